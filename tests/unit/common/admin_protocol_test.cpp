// The admin socket's rows, as both sides read them: what the data plane encodes comes back field
// for field; a value cannot break its row; a malformed line or another protocol version is a
// clear error naming the line, never a wrong column.
#include "seegw/common/admin_protocol.hpp"

#include <gtest/gtest.h>

namespace seegw::admin {
namespace {

std::string answer(const std::string& rows) { return std::string(kRowsHeader) + "\n" + rows; }

TEST(AdminProtocol, RowsRoundTripFieldForField) {
  HeldRow h{"0661C3A8828C08",
            1796000000,
            "",
            {"carol@agency-c.govt.nz", "dave@agency-c.govt.nz"},
            "OUT-5: domain certificate\tof agency-c.govt.nz\nrevoked"};
  auto held = decode_held(answer(encode(h)));
  ASSERT_TRUE(held) << held.error().message;
  ASSERT_EQ(held->size(), 1u);
  EXPECT_EQ((*held)[0].id, h.id);
  EXPECT_EQ((*held)[0].arrival, h.arrival);
  EXPECT_EQ((*held)[0].sender, "");
  EXPECT_EQ((*held)[0].recipients, h.recipients);
  EXPECT_EQ((*held)[0].reason, "OUT-5: domain certificate of agency-c.govt.nz revoked");

  QueueRow q{"0661C3A8829820",         "deferred",          1796000000,           1796000300,
             "alice@agency-a.govt.nz", {"bob@example.org"}, "451 4.4.1 try later"};
  auto queue = decode_queue(answer(encode(q) + encode(q)));
  ASSERT_TRUE(queue) << queue.error().message;
  ASSERT_EQ(queue->size(), 2u);
  EXPECT_EQ((*queue)[1].next_attempt, 1796000300);
  EXPECT_EQ((*queue)[1].last_error, q.last_error);

  auto log = decode_log(answer(encode(LogRow{42, 1796000000123, "warning", "seegw", "x"})));
  ASSERT_TRUE(log);
  EXPECT_EQ((*log)[0].seq, 42u);
  EXPECT_EQ((*log)[0].time_ms, 1796000000123);

  auto certs = decode_certificates(answer(
      encode(CertificateRow{"agency-c.govt.nz", "learnt", "valid", "/CN=dca", "2027-12-04"})));
  ASSERT_TRUE(certs);
  EXPECT_EQ((*certs)[0].not_after, "2027-12-04");
  auto keys = decode_keys(answer(encode(KeyRow{"dca", "RSA", "in use", "cannot leave"})));
  ASSERT_TRUE(keys);
  EXPECT_EQ((*keys)[0].use, "in use");
  EXPECT_TRUE(decode_held(answer(""))->empty());
}

TEST(AdminProtocol, MalformedAnswersAreErrorsThatNameTheLine) {
  auto short_row = decode_held(answer("0661C3A8828C08\t1796000000\t\tcarol@x\n"));
  ASSERT_FALSE(short_row);
  EXPECT_EQ(short_row.error().code, Errc::protocol);
  EXPECT_NE(short_row.error().message.find("line 2"), std::string::npos)
      << short_row.error().message;
  auto bad_number = decode_queue(answer("id\tactive\tsoon\t0\ts\tr\te\n"));
  ASSERT_FALSE(bad_number);
  EXPECT_NE(bad_number.error().message.find("bad number"), std::string::npos);
  auto old_version = decode_keys("ok\ndca\tRSA\tin use\tcannot leave the token\n");
  ASSERT_FALSE(old_version);
  EXPECT_NE(old_version.error().message.find("different admin protocol version"),
            std::string::npos);
  EXPECT_FALSE(decode_log("error: the data plane is busy"));
}

}  // namespace
}  // namespace seegw::admin
