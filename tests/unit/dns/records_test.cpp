// The record syntax Secure Government Email reads: TXT RDATA's length-prefixed strings joined
// (a key split into 255-byte strings is one text), and tag lists as DKIM, DMARC, MTA-STS and
// TLS-RPT write them; malformed RDATA is nothing, not a crash.
#include <gtest/gtest.h>

#include "seegw/dns/resolver.hpp"

namespace seegw::dns {
namespace {

TEST(DnsRecords, TxtStringsAreJoinedAndMalformedRdataIsEmpty) {
  EXPECT_EQ(txt_rdata_text(std::string("\x05v=DKI\x02M1", 9)), "v=DKIM1");
  EXPECT_EQ(txt_rdata_text(""), "");
  EXPECT_EQ(txt_rdata_text(std::string("\x09short", 6)), "") << "a length past the end";
}

TEST(DnsRecords, TagListsAsTheRfcsWriteThem) {
  auto t = tag_list(" v=DMARC1;P = reject ; rua=mailto:d@agency-a.govt.nz;; junk ;p=none");
  EXPECT_EQ(t["v"], "DMARC1");
  EXPECT_EQ(t["p"], "reject") << "names lower-cased; a later duplicate is ignored";
  EXPECT_EQ(t["rua"], "mailto:d@agency-a.govt.nz");
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(tag_list("v=DKIM1; p=MIIB\r\n\tIjAN BgkqhkiG")["p"], "MIIBIjANBgkqhkiG")
      << "folded base64 is one value";
  EXPECT_TRUE(tag_list("").empty());
}

}  // namespace
}  // namespace seegw::dns
