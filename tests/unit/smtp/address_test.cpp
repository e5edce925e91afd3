#include "seegw/smtp/address.hpp"

#include <gtest/gtest.h>

namespace seegw::smtp {
namespace {

TEST(Path, ParsesCommonForms) {
  EXPECT_EQ(parse_path("<a@b.c>")->address, "a@b.c");
  EXPECT_EQ(parse_path(" <a@b.c>")->address, "a@b.c");
  EXPECT_EQ(parse_path("<>")->address, "");
  EXPECT_EQ(parse_path("<@relay.example,@r2.example:a@b.c>")->address, "a@b.c");
  EXPECT_EQ(parse_path("<\"john smith\"@b.c>")->address, "\"john smith\"@b.c");
  EXPECT_EQ(parse_path("<Postmaster>")->address, "postmaster");
  EXPECT_EQ(parse_path("<a@[192.0.2.1]>")->address, "a@[192.0.2.1]");
  auto p = parse_path("<a@b.c> SIZE=10 BODY=8BITMIME");
  EXPECT_EQ(p->rest, "SIZE=10 BODY=8BITMIME");
}

TEST(Path, RejectsBadSyntax) {
  for (const char* bad : {"a@b.c", "<a@b.c", "<a b@c.d>", "<a@>", "<@b.c>", "<a@b..c>", "<a@b.c>x",
                          "<user>", "<a@-b_c!>", "<a\x01@b.c>"})
    EXPECT_FALSE(parse_path(bad).has_value()) << bad;
  EXPECT_FALSE(parse_path("<" + std::string(300, 'a') + "@b.c>").has_value());
}

TEST(Path, DomainIsLowerCased) { EXPECT_EQ(domain_of("x@Agency-A.Govt.NZ"), "agency-a.govt.nz"); }

}  // namespace
}  // namespace seegw::smtp
