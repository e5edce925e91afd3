// Markup and binary formats give logical text: runs joined, entities decoded (rule TRG-2).
#include <gtest/gtest.h>

#include "seegw/extract/extractor.hpp"

namespace seegw::extract {
namespace {

struct Collect : ContentSink {
  std::string all;
  std::vector<std::string> uninspectable_reasons;
  void text(const std::string&, std::string_view utf8) override {
    all.append(utf8);
    all.push_back('\n');
  }
  void uninspectable(const std::string&, std::string_view reason) override {
    uninspectable_reasons.emplace_back(reason);
  }
};

std::string text_of(std::string_view bytes, std::string_view name) {
  Collect c;
  extract_file(bytes, name, c);
  return c.all;
}

TEST(Markup, WordRunsJoin) {
  EXPECT_NE(text_of("<w:p><w:r><w:t>[RES</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>TRICTED]</w:t></"
                    "w:r></w:p>",
                    "document.xml")
                .find("[RESTRICTED]"),
            std::string::npos);
}

TEST(Markup, XmlEntitiesAndAttributes) {
  auto t = text_of("<sheet name=\"{SENSITIVE}\"/><t>&#91;SEEMAIL&#x5D; &amp; &lt;x&gt;</t>",
                   "workbook.xml");
  EXPECT_NE(t.find("{SENSITIVE}"), std::string::npos);
  EXPECT_NE(t.find("[SEEMAIL] & <x>"), std::string::npos);
}

TEST(Markup, HtmlTagsVanishEntitiesDecode) {
  auto t = text_of("<p>[IN<b>&nbsp;</b>CONFIDENCE&rsqb;</p><!-- [RESTRICTED] -->", "a.html");
  EXPECT_NE(t.find("[IN\xC2\xA0"
                   "CONFIDENCE]"),
            std::string::npos);
}

TEST(Markup, RtfControlWordsAndEscapes) {
  auto t = text_of("{\\rtf1\\ansi {\\b [RES}TRIC\\'54ED\\u93?\\par}", "a.rtf");
  EXPECT_NE(t.find("[RESTRICTED]"), std::string::npos) << t;
}

TEST(Binary, UnknownBytesAreScannedAsTextAndUtf16) {
  std::string blob =
      std::string("\x00\x01garbage", 9) + std::string("[\0S\0E\0N\0S\0I\0T\0I\0V\0E\0]\0", 22);
  auto t = text_of(blob, "blob.bin");
  EXPECT_NE(t.find("[SENSITIVE]"), std::string::npos);
}

TEST(Binary, DamagedContainersAreUninspectable) {
  Collect c;
  extract_file(std::string("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1truncated", 17), "x.doc", c);
  ASSERT_EQ(c.uninspectable_reasons.size(), 1u);
  EXPECT_NE(c.uninspectable_reasons[0].find("OLE2"), std::string::npos);
  Collect z;
  extract_file("PK\x03\x04garbage that is not a zip", "x.zip", z);
  EXPECT_FALSE(z.uninspectable_reasons.empty());
  Collect p;
  extract_file("%PDF-1.4 broken", "x.pdf", p);
  EXPECT_FALSE(p.uninspectable_reasons.empty());
}

}  // namespace
}  // namespace seegw::extract
