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

TEST(DnsRecords, MxRdataAndAddresses) {
  auto mx =
      mx_rdata(std::string("\x00\x0a\x02mx\x07"
                           "Example\x03org\x00",
                           18));
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->exchange, "mx.example.org");
  auto null_mx = mx_rdata(std::string("\x00\x00\x00", 3));
  ASSERT_TRUE(null_mx);
  EXPECT_EQ(null_mx->exchange, "") << "RFC 7505: the root";
  EXPECT_FALSE(mx_rdata(std::string("\x00\x0a\xc0\x0c", 4))) << "a compression pointer";
  EXPECT_FALSE(
      mx_rdata(std::string("\x00\x0a\x40", 3) + std::string(64, 'a') + std::string(1, '\0')))
      << "a label longer than 63";
  EXPECT_FALSE(mx_rdata(std::string("\x00\x0a\x05mx", 5))) << "a label past the end";
  EXPECT_FALSE(mx_rdata(std::string("\x00\x0a\x00junk", 7))) << "bytes after the name";
  EXPECT_EQ(address_rdata(std::string("\x7f\x00\x00\x02", 4)), "127.0.0.2");
  EXPECT_EQ(address_rdata(std::string(15, '\0')), "");
}

}  // namespace
}  // namespace seegw::dns
