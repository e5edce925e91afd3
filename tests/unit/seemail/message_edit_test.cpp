// The gateway's own edits of messages: a warning goes above the content without changing one
// byte of the original body (IN-2, IN-5, IN-6 warnings), headers are read and removed exactly.
#include "seegw/seemail/message_edit.hpp"

#include <gtest/gtest.h>

#include "seegw/mime/message.hpp"

namespace seegw::seemail {
namespace {

const std::string kMessage =
    "From: \"Carol\" <carol@agency-c.govt.nz>\r\n"
    "To: dave@agency-a.govt.nz\r\n"
    "Subject: budget\r\n"
    " continued\r\n"
    "X-SEEMAIL-Warning: forged by a peer\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: text/plain; charset=utf-8\r\n"
    "Content-Transfer-Encoding: 8bit\r\n"
    "\r\n"
    "line one\r\n"
    "\xC4\x81 line two\r\n";

TEST(MessageEdit, ReadsUnfoldedHeadersAndAddresses) {
  EXPECT_EQ(header_value(kMessage, "subject"), "budget continued");
  EXPECT_EQ(first_address(header_value(kMessage, "From")), "carol@agency-c.govt.nz");
  EXPECT_EQ(first_address("dave@agency-a.govt.nz (Dave)"), "dave@agency-a.govt.nz");
  EXPECT_EQ(first_address("undisclosed-recipients:;"), "");
  EXPECT_EQ(header_value(kMessage, "X-Missing"), "");
}

TEST(MessageEdit, RemovesEveryFieldOfAName) {
  auto m = remove_headers(kMessage, "x-seemail-warning");
  EXPECT_EQ(m.find("forged"), std::string::npos);
  EXPECT_EQ(m.size(),
            kMessage.size() - std::string("X-SEEMAIL-Warning: forged by a peer\r\n").size());
  auto s = remove_headers(kMessage, "Subject");
  EXPECT_EQ(s.find("continued"), std::string::npos) << "continuation lines go too";
}

TEST(MessageEdit, WarningWrapKeepsTheOriginalBodyAndContentFields) {
  auto wrapped =
      wrap_with_warning(tag_subject(kMessage, "[HARD WARNING]"), "*** WARNING ***\nline");
  auto parsed = mime::parse(wrapped);
  EXPECT_TRUE(parsed.problems.empty());
  ASSERT_EQ(parsed.root.media_type, "multipart/mixed");
  ASSERT_EQ(parsed.root.children.size(), 2u);
  EXPECT_EQ(parsed.root.children[0].media_type, "text/plain");
  EXPECT_NE(parsed.root.children[0].decoded_body().find("*** WARNING ***\r\nline"),
            std::string::npos);
  const auto& original = parsed.root.children[1];
  EXPECT_EQ(original.param("charset"), "utf-8");
  EXPECT_EQ(original.transfer_encoding, "8bit");
  EXPECT_EQ(std::string(original.raw_body), "line one\r\n\xC4\x81 line two\r\n");
  EXPECT_EQ(header_value(wrapped, "Subject"), "[HARD WARNING] budget continued");
  EXPECT_EQ(header_value(wrapped, "From"), "\"Carol\" <carol@agency-c.govt.nz>");
}

// 001's 2B: "a copy of the original email will be attached" — whole, as message/rfc822.
TEST(MessageEdit, WarningWrapCanAttachTheOriginalWhole) {
  auto wrapped = wrap_with_warning(tag_subject(kMessage, "[HARD WARNING]"), "2B text", kMessage);
  auto parsed = mime::parse(wrapped);
  EXPECT_TRUE(parsed.problems.empty());
  ASSERT_EQ(parsed.root.children.size(), 2u);
  const auto& attached = parsed.root.children[1];
  EXPECT_EQ(attached.media_type, "message/rfc822");
  EXPECT_EQ(attached.transfer_encoding, "8bit");
  EXPECT_EQ(std::string(attached.raw_body), kMessage) << "the original, byte for byte";
  EXPECT_EQ(header_value(wrapped, "Subject"), "[HARD WARNING] budget continued");
}

TEST(MessageEdit, ComposedMessagesParseAndCarryAttachments) {
  ComposedMessage c{"SEEMail gateway <postmaster@agency-a.govt.nz>",
                    "alice@agency-a.govt.nz",
                    "Ā subject",
                    "text\n",
                    {{"x.cer", "application/pkix-cert", std::string("\x30\x82\x00", 3)}},
                    {},
                    "<id@x>"};
  auto m = compose(c, "gw.agency-a.govt.nz", 1795000000);
  auto parsed = mime::parse(m);
  EXPECT_TRUE(parsed.problems.empty());
  ASSERT_EQ(parsed.root.children.size(), 2u);
  EXPECT_EQ(parsed.root.children[1].filename, "x.cer");
  EXPECT_EQ(parsed.root.children[1].decoded_body(), std::string("\x30\x82\x00", 3));
  EXPECT_EQ(header_value(m, "Auto-Submitted"), "auto-replied");
  EXPECT_TRUE(header_value(m, "Subject").starts_with("=?UTF-8?B?"));
}

}  // namespace
}  // namespace seegw::seemail
