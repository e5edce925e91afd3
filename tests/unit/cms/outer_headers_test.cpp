// rule OUT-9: a secured message shows in transit only the header fields transport and the peer
// gateway need; every other field travels inside the envelope and comes back intact. Real OpenSSL
// CMS with a test-PKI key in a file (the HSM is not what this test is about).
#include <gtest/gtest.h>

#include "seegw/cms/smime.hpp"
#include "test_identity.hpp"

namespace seegw::cms {
namespace {

// Every field name of a header section, in order (continuation lines belong to their field).
std::vector<std::string> field_names(std::string_view m) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < m.size()) {
    std::size_t nl = m.find('\n', pos);
    std::string_view line = m.substr(pos, nl - pos);
    if (line == "\r" || line.empty()) break;
    if (line.front() != ' ' && line.front() != '\t')
      out.emplace_back(line.substr(0, line.find(':')));
    pos = nl + 1;
  }
  return out;
}

constexpr std::string_view kMessage =
    "Received: from pc1.agency-a.govt.nz by mail.agency-a.govt.nz; Mon, 1 Dec 2026 10:00:00 "
    "+1300\r\n"
    "From: Alice <alice@agency-a.govt.nz>\r\n"
    "To: carol@agency-c.govt.nz\r\n"
    "Cc: dave@agency-c.govt.nz\r\n"
    "Subject: [RESTRICTED] cabinet paper\r\n"
    "Thread-Topic: cabinet paper on the kauri-7\r\n"
    "  pipeline\r\n"
    "Thread-Index: AdlKc2VjcmV0\r\n"
    "Keywords: kauri-7\r\n"
    "Comments: kauri-7 draft\r\n"
    "X-Custom-Project: kauri-7\r\n"
    "Reply-To: minister-office@agency-a.govt.nz\r\n"
    "Date: Mon, 1 Dec 2026 10:00:00 +1300\r\n"
    "Message-ID: <outer-1@agency-a.govt.nz>\r\n"
    "X-SEEMAIL-Version: 2.0\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "\r\n"
    "The paper on kauri-7.\r\n";

class OuterHeaders : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(us_.usable()) << "the test PKI is made by tools/make-test-pki";
  }
  Signer signer() const { return us_.signer(); }
  const test_pki::Identity us_ = test_pki::identity("agency-a-dca");
  X509* cert() const { return us_.cert.get(); }
};

TEST_F(OuterHeaders, SecuredMessageShowsOnlyTheTransportFieldsAndANeutralSubject) {
  auto secured = protect(kMessage, signer(), {cert()}, Protection{});
  ASSERT_TRUE(secured) << secured.error().message;
  const std::string outer = secured->substr(0, secured->find("\r\n\r\n") + 2);
  EXPECT_EQ(outer.find("kauri-7"), std::string::npos) << outer;
  EXPECT_EQ(outer.find("RESTRICTED"), std::string::npos) << outer;
  EXPECT_EQ(outer.find("minister-office"), std::string::npos) << outer;
  const std::vector<std::string> want = {"Received",
                                         "From",
                                         "To",
                                         "Cc",
                                         "Date",
                                         "Message-ID",
                                         "X-SEEMAIL-Version",
                                         "Subject",
                                         "MIME-Version",
                                         "Content-Type",
                                         "Content-Disposition",
                                         "Content-Transfer-Encoding"};
  EXPECT_EQ(field_names(outer), want) << outer;
  EXPECT_NE(outer.find("Subject: SEEMail secure message\r\n"), std::string::npos) << outer;
}

TEST_F(OuterHeaders, EveryFieldComesBackIntactInsideTheEnvelope) {
  auto secured = protect(kMessage, signer(), {cert()}, Protection{});
  ASSERT_TRUE(secured);
  auto opened = unprotect(*secured, us_.key.get(), cert());
  ASSERT_TRUE(opened) << opened.error().message;
  EXPECT_TRUE(opened->was_encrypted && opened->signature_valid);
  EXPECT_EQ(opened->message, kMessage);
}

TEST_F(OuterHeaders, ClearSignedMailKeepsEveryFieldItIsReadableAnyway) {
  auto signed_message = sign(kMessage, signer(), Protection{});
  ASSERT_TRUE(signed_message);
  EXPECT_NE(signed_message->find("Thread-Topic: cabinet paper on the kauri-7\r\n  pipeline\r\n"),
            std::string::npos);
  EXPECT_NE(signed_message->find("Subject: [RESTRICTED] cabinet paper\r\n"), std::string::npos);
}

}  // namespace
}  // namespace seegw::cms
