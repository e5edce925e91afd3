// MTA-STS policies (RFC 8461) parsed strictly: the RFC's example, CRLF or LF, unknown lines
// ignored, every required field and a known mode needed, max_age capped at a year, an oversize
// policy refused; MX patterns match one leftmost label; the TXT record's id.
#include "seegw/sts/policy.hpp"

#include <gtest/gtest.h>

namespace seegw::sts {
namespace {

TEST(MtaSts, TheRfcsExampleParses) {
  auto p = parse_policy(
      "version: STSv1\r\nmode: enforce\r\nmx: mail.example.com\r\nmx: *.example.net\r\n"
      "mx: backupmx.example.com\r\nmax_age: 604800\r\n");
  ASSERT_TRUE(p) << p.error().message;
  EXPECT_EQ(p->mode, Mode::enforce);
  EXPECT_EQ(p->mx.size(), 3u);
  EXPECT_EQ(p->max_age.count(), 604800);
  EXPECT_TRUE(allows(*p, "MAIL.example.com"));
  EXPECT_TRUE(allows(*p, "mx1.example.net"));
  EXPECT_FALSE(allows(*p, "a.b.example.net")) << "a wildcard is one label";
  EXPECT_FALSE(allows(*p, "example.net"));
  EXPECT_FALSE(allows(*p, ".example.net")) << "the wildcard stands for a label, not nothing";
  EXPECT_FALSE(allows(*p, "mail.example.com.evil"));
}

TEST(MtaSts, WhatIsNotAPolicy) {
  EXPECT_TRUE(parse_policy("version: STSv1\nmode: testing\nmx: a.example\nmax_age: 1\nfoo: bar\n"));
  EXPECT_FALSE(parse_policy("version: STSv2\nmode: enforce\nmx: a.example\nmax_age: 1\n"));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: strict\nmx: a.example\nmax_age: 1\n"));
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmax_age: 1\n")) << "no mx";
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: a.example\n")) << "no max_age";
  EXPECT_FALSE(parse_policy("version: STSv1\nmode: enforce\nmx: a.example\nmax_age: -5\n"));
  auto capped = parse_policy("version: STSv1\nmode: none\nmax_age: 9999999999\n");
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped->max_age.count(), 31557600);
  auto big = parse_policy(std::string(kMaxPolicyBytes + 1, 'x'));
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().code, Errc::limit);
}

TEST(MtaSts, TheTxtRecordsId) {
  EXPECT_EQ(record_id("v=STSv1; id=20160831085700Z;"), "20160831085700Z");
  EXPECT_EQ(record_id("v=STSv1; id=a-b"), "") << "ids are alphanumeric";
  EXPECT_EQ(record_id("v=spf1 -all"), "");
}

}  // namespace
}  // namespace seegw::sts
