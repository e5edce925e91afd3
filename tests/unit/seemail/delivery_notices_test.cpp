#include "seegw/seemail/internal_messages.hpp"

#include <gtest/gtest.h>

namespace seegw::seemail {
namespace {

spool::SpoolRecord original() {
  spool::SpoolRecord r;
  r.id = "0660E3C4FDC055";
  r.arrival = 1700000000;
  r.envelope.mail_from = "sender@agency-a.govt.nz";
  r.content = std::make_shared<const std::string>(
      "From: sender@agency-a.govt.nz\r\nSubject: report\r\n\r\nsecret body\r\n");
  return r;
}

TEST(Dsn, BounceIsAnRfc3464ReportWithHeadersOnly) {
  DeliveryNoticeContext c{
      "gw.agency-a.govt.nz", "agency-a.govt.nz", std::chrono::system_clock::now(), {}};
  auto m = delivery_notice(original(), {{"x@example.org", 550, "5.1.1 no such user"}},
                           DeliveryNoticeKind::failed, c);
  EXPECT_NE(m.find("From: Mail Delivery System <postmaster@agency-a.govt.nz>"), std::string::npos);
  EXPECT_NE(m.find("report-type=delivery-status"), std::string::npos);
  EXPECT_NE(m.find("Final-Recipient: rfc822; x@example.org\r\nAction: failed\r\nStatus: 5.1.1"),
            std::string::npos);
  EXPECT_NE(m.find("Diagnostic-Code: smtp; 550 5.1.1 no such user"), std::string::npos);
  EXPECT_NE(m.find("Subject: report"), std::string::npos);
  EXPECT_EQ(m.find("secret body"), std::string::npos) << "only the headers are returned";
}

TEST(Dsn, ExpiredTemporaryFailureIsReportedAsPermanent) {
  DeliveryNoticeContext c{"gw", "agency-a.govt.nz", std::chrono::system_clock::now(), {}};
  auto m = delivery_notice(original(), {{"x@example.org", 451, "4.4.1 connection refused"}},
                           DeliveryNoticeKind::failed, c);
  EXPECT_NE(m.find("Status: 5.4.1"), std::string::npos);
}

TEST(Dsn, DelayNoticeSaysWhenWeGiveUp) {
  DeliveryNoticeContext c{"gw", "agency-a.govt.nz", std::chrono::system_clock::now(),
                          std::chrono::system_clock::from_time_t(1700432000)};
  auto m = delivery_notice(original(), {{"x@example.org", 451, "4.4.1 connection refused"}},
                           DeliveryNoticeKind::delayed, c);
  EXPECT_NE(m.find("Action: delayed\r\nStatus: 4.4.1"), std::string::npos);
  EXPECT_NE(m.find("Will-Retry-Until: "), std::string::npos);
  EXPECT_NE(m.find("Subject: Delayed Mail"), std::string::npos);
}

TEST(Dsn, EnhancedStatusFromReplyOrCode) {
  EXPECT_EQ(enhanced_status(550, "5.7.1 relay denied"), "5.7.1");
  EXPECT_EQ(enhanced_status(550, "relay denied"), "5.0.0");
  EXPECT_EQ(enhanced_status(421, "4.4.2 timeout"), "4.4.2");
  EXPECT_EQ(enhanced_status(451, "4.x.1 bogus"), "4.0.0");
}

}  // namespace
}  // namespace seegw::seemail
