// The one RFC 5322 header toolkit (mime/header_fields.hpp) that the scanner's parser, the SEEMail
// stage's edits and the CMS outer headers share: folded fields are one field, bare LF ends lines
// as CRLF does, a line that is not a field is tolerated and never hides text from the scanner,
// and edits leave everything else byte for byte.
#include "seegw/mime/header_fields.hpp"

#include <gtest/gtest.h>

#include "seegw/mime/message.hpp"

namespace seegw::mime {
namespace {

constexpr std::string_view kMessage =
    "Received: from a\r\n\tby b; Fri, 04 Dec 2026 02:38:02 +0000\r\n"
    "Subject: lunch\r\n on\r\n  Friday\r\n"
    "X-SEEMAIL-Warning: forged\r\n"
    "To: bob@example.org\r\n"
    "\r\n"
    "Subject: not a header, the body\r\n";

TEST(HeaderFields, AFoldedFieldIsOneFieldAndTheBodyStartsAfterTheEmptyLine) {
  const auto section = header_fields(kMessage);
  ASSERT_EQ(section.fields.size(), 4u);
  EXPECT_EQ(section.fields[1].name, "Subject");
  EXPECT_EQ(kMessage.substr(section.body), "Subject: not a header, the body\r\n");
  EXPECT_EQ(unfolded_value(kMessage, section.fields[1]), "lunch on  Friday");
  EXPECT_EQ(header_value(kMessage, "subject"), "lunch on  Friday");
  EXPECT_EQ(header_value(kMessage, "Cc"), "");
}

TEST(HeaderFields, BareLineFeedsEndLinesAsCrlfDoes) {
  const std::string_view lf = "Subject: a\n b\nTo: x@y\n\nbody\n";
  EXPECT_EQ(header_value(lf, "Subject"), "a b");
  EXPECT_EQ(lf.substr(header_fields(lf).body), "body\n");
}

TEST(HeaderFields, RemovingAFieldTakesItsContinuationsAndLeavesTheRestByteForByte) {
  EXPECT_EQ(remove_headers(kMessage, "subject"),
            "Received: from a\r\n\tby b; Fri, 04 Dec 2026 02:38:02 +0000\r\n"
            "X-SEEMAIL-Warning: forged\r\n"
            "To: bob@example.org\r\n"
            "\r\n"
            "Subject: not a header, the body\r\n");
  EXPECT_EQ(remove_headers(kMessage, "Cc"), kMessage);
}

TEST(HeaderFields, KeptHeadersAreTheAdmittedFieldsWithoutTheBody) {
  EXPECT_EQ(kept_headers(kMessage, [](std::string_view n) { return n != "X-SEEMAIL-Warning"; }),
            "Received: from a\r\n\tby b; Fri, 04 Dec 2026 02:38:02 +0000\r\n"
            "Subject: lunch\r\n on\r\n  Friday\r\n"
            "To: bob@example.org\r\n");
}

TEST(HeaderFields, ALineThatIsNotAFieldHidesNothingFromTheScanner) {
  const std::string_view odd =
      "Subject: hello\r\nnot a field\r\n RESTRICTED\r\nTo: x@y\r\n\r\nb\r\n";
  const auto section = header_fields(odd);
  ASSERT_EQ(section.fields.size(), 3u);
  EXPECT_FALSE(section.fields[1].has_colon);
  EXPECT_EQ(header_value(odd, "To"), "x@y");
  const auto parsed = parse(odd);
  ASSERT_EQ(parsed.root.headers.size(), 2u);
  EXPECT_NE(parsed.root.headers[0].value.find("RESTRICTED"), std::string::npos)
      << parsed.root.headers[0].value;
}

TEST(HeaderFields, TheDateIsRfc5322InUtc) {
  EXPECT_EQ(rfc5322_date(std::time_t{1796352000}), "Fri, 04 Dec 2026 02:40:00 +0000");
}

}  // namespace
}  // namespace seegw::mime
