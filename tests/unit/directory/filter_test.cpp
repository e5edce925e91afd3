// rule DIR-2: values put into LDAP search filters are escaped (RFC 4515 §3), so an address with
// `*`, `(`, `)`, `\` or NUL cannot change the filter's meaning.
#include <gtest/gtest.h>

#include "seegw/directory/directory.hpp"

namespace seegw::directory {
namespace {

TEST(FilterEscaping, EverySpecialCharacterIsEscaped) {
  EXPECT_EQ(escape_filter_value("agency-c.govt.nz"), "agency-c.govt.nz");
  EXPECT_EQ(escape_filter_value("*"), "\\2a");
  EXPECT_EQ(escape_filter_value("a)(mail=*"), "a\\29\\28mail=\\2a");
  EXPECT_EQ(escape_filter_value("back\\slash"), "back\\5cslash");
  EXPECT_EQ(escape_filter_value(std::string_view("nul\0byte", 8)), "nul\\00byte");
}

TEST(FilterEscaping, TheTemplateGetsTheEscapedDomainEverywhere) {
  DiscoverySpec spec;
  EXPECT_EQ(discovery_filter(spec, "agency-c.govt.nz"),
            "(mail=domain-confidentiality-authority@agency-c.govt.nz)");
  spec.filter_template = "(|(mail=dca@{domain})(mail=dsa@{domain}))";
  EXPECT_EQ(discovery_filter(spec, "x)(cn=*"),
            "(|(mail=dca@x\\29\\28cn=\\2a)(mail=dsa@x\\29\\28cn=\\2a))");
  // Escaping never opens a new parenthesis or wildcard in the result.
  const std::string hostile = "*()\\*)(|(objectClass=*";
  auto f = discovery_filter(DiscoverySpec{}, hostile);
  EXPECT_EQ(std::count(f.begin(), f.end(), '('), 1);
  EXPECT_EQ(std::count(f.begin(), f.end(), ')'), 1);
  EXPECT_EQ(f.find('*'), std::string::npos);
}

}  // namespace
}  // namespace seegw::directory
