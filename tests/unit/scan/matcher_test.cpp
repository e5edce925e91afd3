// rule TRG-1: the trigger words in every spelling the business requirements allow, and the
// near misses that must not match.
#include "seegw/scan/matcher.hpp"

#include <gtest/gtest.h>

#include "seegw/scan/inspector.hpp"

namespace seegw::scan {
namespace {

std::vector<Match> matches(std::string_view text) {
  static auto matcher = Matcher::create();
  std::vector<Match> out;
  EXPECT_TRUE(matcher.has_value());
  EXPECT_TRUE((*matcher)->scan(text, out));
  return out;
}

TEST(Matcher, EveryTriggerInAnyCaseAndAnyBrackets) {
  struct Case {
    const char* text;
    Trigger trigger;
  };
  for (auto [text, trigger] : std::initializer_list<Case>{
           {"[SEEMAIL]", Trigger::seemail},
           {"{seemail}", Trigger::seemail},
           {"[SeEmAiL}", Trigger::seemail},
           {"}SEEMAIL[", Trigger::seemail},
           {"[IN CONFIDENCE]", Trigger::in_confidence},
           {"{in confidence]", Trigger::in_confidence},
           {"[IN-CONFIDENCE]", Trigger::in_confidence},
           {"[IN   CONFIDENCE]", Trigger::in_confidence},
           {"[IN\r\n CONFIDENCE]", Trigger::in_confidence},
           {"[IN\tCONFIDENCE]", Trigger::in_confidence},
           {"[IN\xC2\xA0"
            "CONFIDENCE]",
            Trigger::in_confidence},
           {"[IN\xE2\x80\x93"
            "CONFIDENCE]",
            Trigger::in_confidence},
           {"[SENSITIVE]", Trigger::sensitive},
           {"{Sensitive}", Trigger::sensitive},
           {"[ SENSITIVE ]", Trigger::sensitive},
           {"[RESTRICTED]", Trigger::restricted},
           {"[restricted}", Trigger::restricted},
           {"{ RESTRICTED\xC2\xA0]", Trigger::restricted},
       }) {
    auto m = matches(std::string("text before ") + text + " and after");
    ASSERT_EQ(m.size(), 1u) << text;
    EXPECT_EQ(m[0].trigger, trigger) << text;
    EXPECT_EQ(m[0].start, 12u) << text;
  }
}

TEST(Matcher, NearMissesDoNotMatch) {
  for (const char* text :
       {"SEEMAIL", "[SEE MAIL]", "[RESTRICTEDX]", "[XRESTRICTED]", "(RESTRICTED)", "<SENSITIVE>",
        "[IN CONFIDENCE", "RESTRICTED]", "[INCONFIDENCE]", "[IN_CONFIDENCE]", "[S**MAIL]",
        "[R*STRICT*D]", "[SENSITIV]"}) {
    EXPECT_TRUE(matches(text).empty()) << text;
  }
}

TEST(Matcher, ManyTriggersAreEachReportedOnce) {
  auto m = matches("[SEEMAIL]] and {SENSITIVE} and [RESTRICTED]]]");
  ASSERT_EQ(m.size(), 3u);
  EXPECT_EQ(m[0].trigger, Trigger::seemail);
  EXPECT_EQ(m[1].trigger, Trigger::sensitive);
  EXPECT_EQ(m[2].trigger, Trigger::restricted);
  EXPECT_EQ(m[2].start, 31u);
}

// rule TRG-3: the highest level wins; plain SEEMAIL is IN-CONFIDENCE.
TEST(Classification, HighestLevelWins) {
  auto matcher = Matcher::create();
  auto r = inspect_message("Subject: [SEEMAIL]\r\n\r\nbody {sensitive}\r\n", **matcher);
  EXPECT_EQ(r.classification, Classification::sensitive);
  r = inspect_message("Subject: [SEEMAIL]\r\n\r\nbody\r\n", **matcher);
  EXPECT_EQ(r.classification, Classification::in_confidence);
  r = inspect_message("Subject: hi\r\n\r\nbody\r\n", **matcher);
  EXPECT_EQ(r.classification, Classification::none);
  EXPECT_EQ(classification_name(Classification::in_confidence), "IN-CONFIDENCE");
}

// rule TRG-3: each hit says where it was.
TEST(Inspector, HitsNameTheirPlace) {
  auto matcher = Matcher::create();
  auto r = inspect_message(
      "Subject: =?UTF-8?B?W1JFU1RSSUNURURd?=\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n"
      "hello {sensitive}\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment;"
      " filename*=utf-8''%5BSEEMAIL%5D.txt\r\n\r\nplain\r\n--b--\r\n",
      **matcher);
  ASSERT_EQ(r.hits.size(), 3u);
  EXPECT_EQ(r.hits[0].where, "Subject");
  EXPECT_EQ(r.hits[1].where, "part 1 (text/plain)");
  EXPECT_EQ(r.hits[1].offset, 6u);
  EXPECT_EQ(r.hits[2].where, "attachment '[SEEMAIL].txt' (part 2) > file name");
}

// rule TRG-4: what cannot be read is reported, with a reason.
TEST(Inspector, EncryptedPayloadsAreUninspectable) {
  auto matcher = Matcher::create();
  auto r = inspect_message(
      "Subject: x\r\nContent-Type: application/pkcs7-mime; smime-type=enveloped-data\r\n"
      "Content-Transfer-Encoding: base64\r\n\r\nMIAGCSqGSIb3DQEHA6CAMIACAQAx\r\n",
      **matcher);
  ASSERT_EQ(r.uninspectable.size(), 1u);
  EXPECT_NE(r.uninspectable[0].reason.find("S/MIME"), std::string::npos);
  r = inspect_message(
      "Subject: x\r\n\r\n-----BEGIN PGP MESSAGE-----\r\nhQEMA\r\n-----END PGP MESSAGE-----\r\n",
      **matcher);
  EXPECT_EQ(r.uninspectable.size(), 1u);
}

TEST(Inspector, LimitsMakeContentUninspectableNotClean) {
  auto matcher = Matcher::create();
  std::string deep = "Subject: x\r\n";
  for (int i = 0; i < 40; ++i) deep += "Content-Type: message/rfc822\r\n\r\nSubject: y\r\n";
  deep += "\r\n[RESTRICTED]\r\n";
  extract::Limits limits;
  limits.max_depth = 5;
  auto r = inspect_message(deep, **matcher, limits);
  ASSERT_FALSE(r.uninspectable.empty());
  EXPECT_NE(r.uninspectable[0].reason.find("limit"), std::string::npos);
}

// rule TRG-5: every header field is read, whatever its name, at the top and in every part.
TEST(Inspector, EveryHeaderFieldIsScanned) {
  auto matcher = Matcher::create();
  auto r = inspect_message(
      "Subject: budget\r\nX-Project-Label: [RESTRICTED]\r\nThread-Topic: budget\r\n"
      "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n"
      "Content-Type: text/plain\r\nX-Note: =?UTF-8?Q?=7Bsensitive=7D?=\r\n\r\nplain\r\n--b--\r\n",
      **matcher);
  ASSERT_EQ(r.hits.size(), 2u);
  EXPECT_EQ(r.hits[0].where, "X-Project-Label");
  EXPECT_EQ(r.hits[1].where, "part 1 > X-Note");
  EXPECT_EQ(r.classification, Classification::restricted);
}

// rule TRG-5: a base64 body with a padded run in the middle is read to its end, as clients do.
TEST(Inspector, TextAfterAPadInTheMiddleOfBase64IsScanned) {
  auto matcher = Matcher::create();
  auto r = inspect_message(
      "Subject: hi\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "SGk=\r\nW1JFU1RSSUNURURd\r\n",
      **matcher);
  EXPECT_EQ(r.classification, Classification::restricted);
  EXPECT_TRUE(r.uninspectable.empty());
}

// rule TRG-5: an invitation's lines are unfolded (RFC 5545 §3.1) before they are scanned.
TEST(Inspector, CalendarLinesAreUnfoldedBeforeScanning) {
  auto matcher = Matcher::create();
  auto r = inspect_message(
      "Subject: meeting\r\nContent-Type: text/calendar; method=REQUEST\r\n\r\n"
      "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nDESCRIPTION:Agenda: [RESTR\r\n ICTED] budget\\, and "
      "more\r\n"
      "END:VEVENT\r\nEND:VCALENDAR\r\n",
      **matcher);
  EXPECT_EQ(r.classification, Classification::restricted);
}

// rule TRG-5: a part whose encoded body decodes to nothing is not clean.
TEST(Inspector, APartThatDecodesToNothingIsUninspectable) {
  auto matcher = Matcher::create();
  auto r = inspect_message(
      "Subject: hi\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "====\r\n!!!!\r\n",
      **matcher);
  ASSERT_EQ(r.uninspectable.size(), 1u);
  EXPECT_NE(r.uninspectable[0].reason.find("decodes to nothing"), std::string::npos);
  r = inspect_message(
      "Subject: hi\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n"
      "\r\n",
      **matcher);
  EXPECT_TRUE(r.uninspectable.empty()) << "an empty body is empty, not hidden";
}

}  // namespace
}  // namespace seegw::scan
