// The Authentication-Results field (RFC 8601) the gateway adds, and the forged ones it removes.
#include <gtest/gtest.h>

#include "seegw/sender_auth/verdict.hpp"

using namespace seegw::sender_auth;

TEST(AuthenticationResults, SaysEachMethodWithItsProperties) {
  Verdict v;
  v.spf = {SpfResult::pass, "a.example", "a.example matched 'ip4:192.0.2.0/24'"};
  v.dkim.push_back({AuthResult::pass, "a.example", "sel1", "abcdefgh", ""});
  v.dkim.push_back({AuthResult::fail, "b.example", "s(2)", "", "body hash did not verify"});
  v.dmarc = {AuthResult::pass, "a.example", "reject", ""};
  const auto h = authentication_results("gw.agency.example", v, "ann@a.example", "mx.a.example");
  EXPECT_EQ(h,
            "Authentication-Results: gw.agency.example;\r\n"
            "\tspf=pass (a.example matched 'ip4:192.0.2.0/24') smtp.mailfrom=ann@a.example;\r\n"
            "\tdkim=pass header.d=a.example header.s=sel1 header.b=abcdefgh;\r\n"
            "\tdkim=fail (body hash did not verify) header.d=b.example header.s=\"s(2)\";\r\n"
            "\tdmarc=pass (p=reject) header.from=a.example\r\n");
}

TEST(AuthenticationResults, APeersTextCannotBreakOutOfAComment) {
  Verdict v;
  v.spf = {SpfResult::permerror, "x.example", "bad term ') ; dmarc=pass\r\nX-Evil: 1'"};
  const auto h = authentication_results("gw", v, "", "helo.example");
  EXPECT_EQ(h.find("\r\nX-Evil"), std::string::npos) << h;
  EXPECT_NE(h.find("(bad term '\\) ; dmarc=pass??X-Evil: 1')"), std::string::npos) << h;
  EXPECT_NE(h.find("smtp.helo=helo.example"), std::string::npos);
  EXPECT_NE(h.find("dkim=none"), std::string::npos);
}

TEST(AuthenticationResults, OnlyTheFieldsInOurNameAreRemoved) {
  const std::string m =
      "Authentication-Results: GW.Agency.Example; dmarc=pass\r\n"
      "Received: from x\r\n"
      "Authentication-Results: (comment) gw.agency.example;\r\n\tspf=pass\r\n"
      "Authentication-Results: mx.elsewhere.example; spf=fail\r\n"
      "Subject: Authentication-Results: gw.agency.example\r\n"
      "\r\n"
      "Authentication-Results: gw.agency.example; in the body\r\n";
  EXPECT_EQ(without_forged_results(m, "gw.agency.example"),
            "Received: from x\r\n"
            "Authentication-Results: mx.elsewhere.example; spf=fail\r\n"
            "Subject: Authentication-Results: gw.agency.example\r\n"
            "\r\n"
            "Authentication-Results: gw.agency.example; in the body\r\n");
}
