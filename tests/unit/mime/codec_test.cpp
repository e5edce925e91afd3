#include "seegw/mime/codec.hpp"

#include <gtest/gtest.h>

#include "seegw/mime/message.hpp"

namespace seegw::mime {
namespace {

TEST(Codec, Base64ToleratesLineBreaksAndJunk) {
  EXPECT_EQ(decode_base64("W1JF\r\nU1RS\r\nSUNU\r\nRURd"), "[RESTRICTED]");
  EXPECT_EQ(decode_base64("W1JFU1RS SUNURURd!!"), "[RESTRICTED]");
  EXPECT_EQ(decode_base64("aGk="), "hi");
  EXPECT_EQ(decode_base64(""), "");
}

// rule TRG-5: a pad in the middle ends a quantum, not the data (as GNU base64 -d reads it), so
// text after it is scanned.
TEST(Codec, Base64DecodesOnAfterAPaddedRunInTheMiddle) {
  EXPECT_EQ(decode_base64("SGk=W1JFU1RSSUNURURd"), "Hi[RESTRICTED]");
  EXPECT_EQ(decode_base64("SGk=\r\nW1JFU1RSSUNURURd\r\n"), "Hi[RESTRICTED]");
  EXPECT_EQ(decode_base64("SQ==SGk=W1JFU1RSSUNURURd"), "IHi[RESTRICTED]");
  EXPECT_EQ(decode_base64("aGk=="), "hi");
}

TEST(Codec, Base64EncodeRoundTripsInLines) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<char>(i * 7));
  std::string encoded = encode_base64(bytes);
  EXPECT_EQ(encoded.find("\r\n"), 76u);
  EXPECT_EQ(decode_base64(encoded), bytes);
  EXPECT_EQ(encode_base64("hi"), "aGk=\r\n");
  EXPECT_EQ(encode_base64(""), "");
}

TEST(Codec, Base64EncodeEveryTailAndLineLength) {
  // RFC 4648's test vectors, then every length against the decoder with each line length.
  EXPECT_EQ(encode_base64("f"), "Zg==\r\n");
  EXPECT_EQ(encode_base64("fo"), "Zm8=\r\n");
  EXPECT_EQ(encode_base64("foo"), "Zm9v\r\n");
  EXPECT_EQ(encode_base64("foobar", 4), "Zm9v\r\nYmFy\r\n");
  EXPECT_EQ(encode_base64("fooba", 8), "Zm9vYmE=\r\n");
  std::string bytes;
  for (int length = 0; length < 200; ++length) {
    for (std::size_t line : {4u, 8u, 64u, 76u, 77u}) {
      const std::string encoded = encode_base64(bytes, line);
      ASSERT_EQ(decode_base64(encoded), bytes) << length << " bytes in lines of " << line;
      std::size_t start = 0;
      for (std::size_t end; (end = encoded.find("\r\n", start)) != std::string::npos;
           start = end + 2)
        ASSERT_LE(end - start, line / 4 * 4) << length << " bytes in lines of " << line;
      ASSERT_EQ(start, encoded.size()) << "ends with CRLF";
    }
    bytes.push_back(static_cast<char>(length * 37 + 11));
  }
}

TEST(Codec, QuotedPrintableSoftBreaksAndBrokenEscapes) {
  EXPECT_EQ(decode_quoted_printable("[RESTR=\r\nICTED]"), "[RESTRICTED]");
  EXPECT_EQ(decode_quoted_printable("[RESTR=  \nICTED]"), "[RESTRICTED]");
  EXPECT_EQ(decode_quoted_printable("=5BSEEMAIL=5D"), "[SEEMAIL]");
  EXPECT_EQ(decode_quoted_printable("a=ZZb=4"), "a=ZZb=4");
  EXPECT_EQ(decode_quoted_printable("end="), "end");
}

TEST(Codec, EncodedWordsInAnyCharsetJoinAcrossWhitespace) {
  EXPECT_EQ(decode_header_words("=?UTF-8?B?W1JFU1RS?= =?UTF-8?B?SUNURURd?="), "[RESTRICTED]");
  EXPECT_EQ(decode_header_words("=?iso-8859-1?Q?caf=E9_[IN?=\r\n =?utf-8?q?_CONFIDENCE]?="),
            "café [IN CONFIDENCE]");
  EXPECT_EQ(decode_header_words("plain =?utf-16le?B?WwBTAEUARQBNAEEASQBMAF0A?= text"),
            "plain [SEEMAIL] text");
  EXPECT_EQ(decode_header_words("=?bogus-charset?Q?x?="), "x");
  EXPECT_EQ(decode_header_words("=?utf-8?X?broken?="), "=?utf-8?X?broken?=");
}

TEST(Codec, CharsetConversion) {
  EXPECT_EQ(to_utf8("caf\xE9", "iso-8859-1"), "café");
  EXPECT_EQ(to_utf8(std::string("[\0S\0]\0", 6), "utf-16le"), "[S]");
  EXPECT_EQ(to_utf8("ok", "no-such-charset"), "ok");
  EXPECT_EQ(to_utf8("bad \xFF byte", "utf-16le").empty(), false);
}

TEST(Codec, Rfc2231Parameters) {
  EXPECT_EQ(decode_rfc2231("utf-8''%5BRESTRICTED%5D%20plan.docx"), "[RESTRICTED] plan.docx");
  EXPECT_EQ(decode_rfc2231("iso-8859-1'en'caf%E9"), "café");
}

TEST(Message, MultipartStructureWithContinuationsAndProblems) {
  auto m = parse(
      "Subject: t\r\nContent-Type: multipart/mixed;\r\n boundary=\"outer\"\r\n\r\n"
      "preamble\r\n--outer\r\nContent-Type: text/plain; charset=utf-8\r\n\r\none\r\n"
      "--outer\r\nContent-Type: multipart/alternative; boundary=inner\r\n\r\n"
      "--inner\r\nContent-Type: text/html\r\n\r\n<b>two</b>\r\n--inner--\r\n"
      "--outer\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename*0*=utf-8''a%20; "
      "filename*1=\"b.bin\"\r\n\r\naGk=\r\n"
      "--outer\r\nContent-Type: text/plain\r\n\r\nnot closed");
  ASSERT_EQ(m.root.children.size(), 4u);
  EXPECT_EQ(m.root.children[0].decoded_body(), "one");
  EXPECT_EQ(m.root.children[1].children.at(0).path, "2.1");
  EXPECT_EQ(m.root.children[1].children.at(0).media_type, "text/html");
  EXPECT_EQ(m.root.children[2].filename, "a b.bin");
  EXPECT_EQ(m.root.children[2].decoded_body(), "hi");
  EXPECT_EQ(m.problems.size(), 1u);  // the missing final boundary
}

TEST(Message, DepthLimitIsReported) {
  std::string raw;
  for (int i = 0; i < 50; ++i)
    raw += "Content-Type: multipart/mixed; boundary=b" + std::to_string(i) + "\r\n\r\n--b" +
           std::to_string(i) + "\r\n";
  auto m = parse(raw, ParseLimits{10, 100});
  EXPECT_FALSE(m.problems.empty());
}

TEST(Message, BareLfMessagesParse) {
  auto m = parse("Subject: x\nContent-Type: text/plain\n\nbody\n");
  EXPECT_EQ(m.root.raw_body, "body\n");
  EXPECT_EQ(*m.root.header("subject"), "x");
}

}  // namespace
}  // namespace seegw::mime

namespace seegw::mime {
namespace {

// The admin socket carries a certificate file as one base64 token on its command line.
TEST(Base64, OneLineHasNoLineEndAndRoundTrips) {
  std::string bytes;
  for (int i = 0; i < 1000; ++i) bytes.push_back(static_cast<char>(i * 7));
  const std::string line = encode_base64_line(bytes);
  EXPECT_EQ(line.find_first_of("\r\n"), std::string::npos);
  EXPECT_EQ(line.size(), (bytes.size() + 2) / 3 * 4);
  EXPECT_EQ(decode_base64(line), bytes);
  EXPECT_EQ(encode_base64_line(""), "");
}

}  // namespace
}  // namespace seegw::mime
