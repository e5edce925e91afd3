// RFC 7208 check_host() against a zone held in a table: the evaluator is pure, so its rules
// (mechanisms, qualifiers, macros, the lookup limits) are tested here; the sge suite runs it
// against real DNS.
#include <gtest/gtest.h>

#include <arpa/inet.h>

#include <map>

#include "seegw/sender_auth/spf.hpp"

using namespace seegw::sender_auth;

namespace {

// name → answers per type ("txt", "a", "aaaa", "mx", "ptr"); "!error" as a value is a DNS error.
class ZoneDns final : public SpfDns {
 public:
  std::map<std::string, std::map<std::string, std::vector<std::string>>> zone;
  std::vector<std::string> asked;

  SpfAnswer txt(const std::string& name) override { return answer(name, "txt"); }
  SpfAnswer addresses(const std::string& name, bool v6) override {
    auto a = answer(name, v6 ? "aaaa" : "a");
    for (auto& v : a.values) v = raw(v, v6);
    return a;
  }
  SpfAnswer mx(const std::string& name) override { return answer(name, "mx"); }
  SpfAnswer ptr(const std::string& name) override { return answer(name, "ptr"); }

 private:
  static std::string raw(const std::string& text, bool v6) {
    unsigned char b[16];
    inet_pton(v6 ? AF_INET6 : AF_INET, text.c_str(), b);
    return std::string(reinterpret_cast<char*>(b), v6 ? 16 : 4);
  }
  SpfAnswer answer(const std::string& name, const std::string& type) {
    asked.push_back(type + " " + name);
    SpfAnswer a;
    auto n = zone.find(name);
    if (n == zone.end()) {
      a.status = SpfAnswer::Status::nxdomain;
      return a;
    }
    auto t = n->second.find(type);
    if (t == n->second.end()) return a;  // no data
    if (!t->second.empty() && t->second[0] == "!error") {
      a.status = SpfAnswer::Status::error;
      return a;
    }
    a.status = SpfAnswer::Status::found;
    a.values = t->second;
    return a;
  }
};

SpfResult check(ZoneDns& dns, const std::string& ip = "192.0.2.3",
                const std::string& sender = "strong-bad@email.example.com") {
  return check_sender({ip, sender, "mx.example.net"}, dns).result;
}

ZoneDns with_record(const std::string& record) {
  ZoneDns dns;
  dns.zone["email.example.com"]["txt"] = {record};
  return dns;
}

}  // namespace

TEST(Spf, QualifiersDecideTheResultOfTheMatchingMechanism) {
  auto pass = with_record("v=spf1 ip4:192.0.2.0/24 -all");
  EXPECT_EQ(check(pass), SpfResult::pass);
  EXPECT_EQ(check(pass, "198.51.100.1"), SpfResult::fail);
  auto soft = with_record("v=spf1 ip4:10.0.0.1 ~all");
  EXPECT_EQ(check(soft), SpfResult::softfail);
  auto neutral = with_record("v=spf1 ?all");
  EXPECT_EQ(check(neutral), SpfResult::neutral);
  auto nothing = with_record("v=spf1 ip4:10.0.0.1");
  EXPECT_EQ(check(nothing), SpfResult::neutral);  // §4.7: no match, no redirect
}

TEST(Spf, NoRecordIsNoneAndTwoAreAPermanentError) {
  ZoneDns none;
  EXPECT_EQ(check(none), SpfResult::none);  // NXDOMAIN
  auto other = with_record("google-site-verification=x");
  EXPECT_EQ(check(other), SpfResult::none);
  auto spf10 = with_record("v=spf10 -all");  // not "v=spf1" followed by a space
  EXPECT_EQ(check(spf10), SpfResult::none);
  auto two = with_record("v=spf1 -all");
  two.zone["email.example.com"]["txt"].push_back("v=spf1 +all");
  EXPECT_EQ(check(two), SpfResult::permerror);
}

TEST(Spf, ADnsErrorIsATemporaryError) {
  ZoneDns dns;
  dns.zone["email.example.com"]["txt"] = {"!error"};
  EXPECT_EQ(check(dns), SpfResult::temperror);
  auto a = with_record("v=spf1 a:broken.example.com -all");
  a.zone["broken.example.com"]["a"] = {"!error"};
  EXPECT_EQ(check(a), SpfResult::temperror);
}

TEST(Spf, AAndMxWithTheirCidrLengths) {
  auto dns = with_record("v=spf1 a/24 mx:mail.example.com//64 -all");
  dns.zone["email.example.com"]["a"] = {"192.0.2.200"};
  EXPECT_EQ(check(dns), SpfResult::pass);  // same /24
  dns.zone["mail.example.com"]["mx"] = {"mx1.example.com"};
  dns.zone["mx1.example.com"]["aaaa"] = {"2001:db8:1:1::25"};
  EXPECT_EQ(check(dns, "2001:db8:1:1:ffff::1"), SpfResult::pass);  // same /64
  EXPECT_EQ(check(dns, "2001:db8:1:2::1"), SpfResult::fail);
  EXPECT_EQ(check(dns, "198.51.100.1"), SpfResult::fail);
}

TEST(Spf, Ip6AndAnIpv4MappedClient) {
  auto dns = with_record("v=spf1 ip6:2001:db8::/32 ip4:192.0.2.3 -all");
  EXPECT_EQ(check(dns, "2001:db8:ffff::1"), SpfResult::pass);
  EXPECT_EQ(check(dns, "::ffff:192.0.2.3"), SpfResult::pass);
  EXPECT_EQ(check(dns, "2001:db9::1"), SpfResult::fail);
}

TEST(Spf, IncludeAndRedirect) {
  auto dns = with_record("v=spf1 include:_spf.example.org -all");
  dns.zone["_spf.example.org"]["txt"] = {"v=spf1 ip4:192.0.2.3 -all"};
  EXPECT_EQ(check(dns), SpfResult::pass);
  EXPECT_EQ(check(dns, "198.51.100.1"), SpfResult::fail);  // include's fail is "no match"
  dns.zone["_spf.example.org"]["txt"] = {"v=spf1 ?all"};
  EXPECT_EQ(check(dns), SpfResult::fail);
  dns.zone.erase("_spf.example.org");
  EXPECT_EQ(check(dns), SpfResult::permerror);  // §5.2: include of a domain without SPF

  auto redirect = with_record("v=spf1 redirect=_spf.example.org");
  redirect.zone["_spf.example.org"]["txt"] = {"v=spf1 ip4:192.0.2.3 ~all"};
  EXPECT_EQ(check(redirect), SpfResult::pass);
  EXPECT_EQ(check(redirect, "198.51.100.1"), SpfResult::softfail);
  redirect.zone.erase("_spf.example.org");
  EXPECT_EQ(check(redirect), SpfResult::permerror);  // §6.1
}

TEST(Spf, SyntaxErrorsArePermanentErrorsBeforeAnyLookup) {
  for (const char* record :
       {"v=spf1 foo:bar -all", "v=spf1 ip4:300.1.1.1 -all", "v=spf1 ip4:192.0.2.3/33 -all",
        "v=spf1 ip6:2001:db8::/129 -all", "v=spf1 a//129 -all", "v=spf1 -redirect=x.example",
        "v=spf1 redirect=a.example redirect=b.example", "v=spf1 exists:%{z}.example -all",
        "v=spf1 include: -all", "v=spf1 all:x", "v=spf1 exists:%{d0}.x -all", "v=spf1 a:%{d -all",
        "v=spf1 a:% -all", "v=spf1 exp=a exp=b -all"}) {
    auto dns = with_record(record);
    dns.zone["email.example.com"]["a"] = {"192.0.2.3"};
    EXPECT_EQ(check(dns), SpfResult::permerror) << record;
    EXPECT_EQ(dns.asked.size(), 1u) << record;  // only the record itself
  }
  auto unknown_modifier = with_record("v=spf1 foo=bar -all");  // ignored (§6)
  EXPECT_EQ(check(unknown_modifier), SpfResult::fail);
}

TEST(Spf, MoreThanTenLookupsIsAPermanentError) {
  std::string record = "v=spf1";
  for (int i = 0; i < 11; ++i) record += " a:h" + std::to_string(i) + ".example.com";
  auto dns = with_record(record + " -all");
  for (int i = 0; i < 11; ++i)
    dns.zone["h" + std::to_string(i) + ".example.com"]["a"] = {"10.0.0.1"};
  const auto outcome = check_sender({"192.0.2.3", "x@email.example.com", "h"}, dns);
  EXPECT_EQ(outcome.result, SpfResult::permerror);
  EXPECT_NE(outcome.reason.find("more than 10"), std::string::npos) << outcome.reason;
  // Ten are allowed.
  record = "v=spf1";
  for (int i = 0; i < 10; ++i) record += " a:h" + std::to_string(i) + ".example.com";
  dns.zone["email.example.com"]["txt"] = {record + " -all"};
  EXPECT_EQ(check(dns), SpfResult::fail);
}

TEST(Spf, AnIncludeLoopEndsAtTheLookupLimit) {
  auto dns = with_record("v=spf1 include:email.example.com -all");
  EXPECT_EQ(check(dns), SpfResult::permerror);
  EXPECT_LE(dns.asked.size(), 12u);
}

TEST(Spf, MoreThanTwoVoidLookupsIsAPermanentError) {
  auto dns = with_record("v=spf1 a:v1.example.com a:v2.example.com a:v3.example.com -all");
  EXPECT_EQ(check(dns), SpfResult::permerror);
  auto two = with_record("v=spf1 a:v1.example.com a:v2.example.com -all");
  EXPECT_EQ(check(two), SpfResult::fail);
}

TEST(Spf, MoreThanTenMxNamesIsAPermanentError) {
  auto dns = with_record("v=spf1 mx -all");
  for (int i = 0; i < 11; ++i) dns.zone["email.example.com"]["mx"].push_back("mx.example.com");
  dns.zone["mx.example.com"]["a"] = {"10.0.0.1"};  // found, no match: not a void lookup
  EXPECT_EQ(check(dns), SpfResult::permerror);
  dns.zone["email.example.com"]["mx"].pop_back();  // ten are allowed
  EXPECT_EQ(check(dns), SpfResult::fail);
}

TEST(Spf, MacrosExpandAsRfc7208Section7Shows) {
  // §7.4's examples, seen as the names the evaluation asks for.
  auto dns = with_record("v=spf1 exists:%{ir}.%{v}._spf.%{d2} exists:%{lr-}.lp._spf.%{d2} -all");
  EXPECT_EQ(check(dns), SpfResult::fail);
  EXPECT_EQ(dns.asked, (std::vector<std::string>{"txt email.example.com",
                                                 "a 3.2.0.192.in-addr._spf.example.com",
                                                 "a bad.strong.lp._spf.example.com"}));
  auto more = with_record("v=spf1 exists:%{l1r-}.%{d3}.%{dr}.%{o} exists:%%.%-.%{h}.y -all");
  EXPECT_EQ(check(more), SpfResult::fail);
  EXPECT_EQ(more.asked, (std::vector<std::string>{
                            "txt email.example.com",
                            "a strong.email.example.com.com.example.email.email.example.com",
                            "a %.%20.mx.example.net.y"}));
  auto mapped = with_record("v=spf1 exists:%{i}.%{v}.x.example -all");
  check(mapped, "::ffff:192.0.2.3");
  EXPECT_EQ(mapped.asked.back(), "a 192.0.2.3.in-addr.x.example");
  auto v6 = with_record("v=spf1 exists:%{ir}.%{v}._spf.%{d2} -all");
  check(v6, "2001:db8::cb01");
  EXPECT_EQ(
      v6.asked.back(),
      "a 1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST(Spf, AnUppercaseMacroIsUrlEscapedAndAHugeExpansionIsRefused) {
  auto dns = with_record("v=spf1 exists:%{S}.x.example -all");
  check(dns, "192.0.2.3", "a+b@email.example.com");
  EXPECT_EQ(dns.asked.back(), "a a%2Bb%40email.example.com.x.example");
  std::string record = "v=spf1 exists:";
  for (int i = 0; i < 200; ++i) record += "%{s}";
  auto huge = with_record(record + " -all");
  EXPECT_EQ(check(huge, "192.0.2.3", std::string(60, 'l') + "@email.example.com"),
            SpfResult::permerror);
}

TEST(Spf, PtrMatchesAValidatedName) {
  auto dns = with_record("v=spf1 ptr -all");
  dns.zone["3.2.0.192.in-addr.arpa"]["ptr"] = {"mail.email.example.com", "forged.example.net"};
  dns.zone["mail.email.example.com"]["a"] = {"192.0.2.3"};
  EXPECT_EQ(check(dns), SpfResult::pass);
  dns.zone["mail.email.example.com"]["a"] = {"192.0.2.4"};  // does not point back
  EXPECT_EQ(check(dns), SpfResult::fail);
}

TEST(Spf, TheNullReversePathIsCheckedAsPostmasterAtTheHeloName) {
  ZoneDns dns;
  dns.zone["mx.example.net"]["txt"] = {"v=spf1 ip4:192.0.2.3 -all"};
  const auto outcome = check_sender({"192.0.2.3", "", "mx.example.net"}, dns);
  EXPECT_EQ(outcome.result, SpfResult::pass);
  EXPECT_EQ(outcome.domain, "mx.example.net");
  EXPECT_EQ(check_sender({"192.0.2.3", "", "[192.0.2.3]"}, dns).result, SpfResult::none);
}
