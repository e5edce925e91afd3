// DKIM signatures without the key (RFC 6376): the relaxed canonicalisations as §3.4.6's example
// gives them, the empty body's hash, over-signing (each signed field listed once more than it
// occurs, so none can be added), fields signed bottom-up, the DKIM-Signature field's b= left out
// of what is signed, and the TXT record's 255-byte strings. OpenDKIM verifying whole messages
// signed by the gateway is the `sge` test's.
#include "seegw/dkim/signature.hpp"

#include <gtest/gtest.h>

#include "seegw/mime/codec.hpp"

namespace seegw::dkim {
namespace {

TEST(Dkim, RelaxedCanonicalisationIsTheRfcsExample) {
  // RFC 6376 §3.4.6.
  EXPECT_EQ(relaxed_header("A", " X\r\n"), "a:X\r\n");
  EXPECT_EQ(relaxed_header("B ", " Y\t\r\n\tZ  \r\n"), "b:Y Z\r\n");
  EXPECT_EQ(relaxed_body(" C \r\nD \t E\r\n\r\n\r\n"), " C\r\nD E\r\n");
}

TEST(Dkim, BodyEdgesAreCanonicalLikeTheWireCarriesThem) {
  EXPECT_EQ(relaxed_body(""), "");
  EXPECT_EQ(relaxed_body("\r\n\r\n"), "");
  EXPECT_EQ(relaxed_body("no line end"), "no line end\r\n");  // the SMTP client adds CRLF
  EXPECT_EQ(relaxed_body("bare\nLF \n\n"), "bare\r\nLF\r\n");
  EXPECT_EQ(relaxed_body("a\r\n \t \r\nb\r\n"), "a\r\n\r\nb\r\n");  // inner blank lines stay
}

TEST(Dkim, TheEmptyBodyHasTheRfcsHash) {
  const auto u = prepare("From: a@agency-a.govt.nz\r\n\r\n", {"agency-a.govt.nz", "s1"});
  EXPECT_NE(u.field.find("bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;"), std::string::npos)
      << u.field;
}

std::string tag(const std::string& field, const std::string& name) {
  std::string unfolded;
  for (char c : field)
    if (c != '\r' && c != '\n' && c != '\t' && c != ' ') unfolded.push_back(c);
  const auto at = unfolded.find(";" + name + "=");
  if (at == std::string::npos) return "";
  const auto begin = at + name.size() + 2;
  return unfolded.substr(begin, unfolded.find(';', begin) - begin);
}

TEST(Dkim, SignedFieldsAreOverSignedAndTakenFromTheBottom) {
  const std::string message =
      "Received: from x\r\n"
      "To: first@agency-c.govt.nz\r\n"
      "From: Someone <someone@agency-a.govt.nz>\r\n"
      "Subject:  Budget\r\n\tfigures \r\n"
      "To: second@agency-c.govt.nz\r\n"
      "\r\n"
      "Body\r\n";
  const auto u = prepare(message, {"agency-a.govt.nz", "sel-1", Algorithm::ed25519_sha256, 1700});
  const std::string h = tag(u.field, "h");
  EXPECT_EQ(h.substr(0, 36), "from:from:sender:reply-to:subject:su") << h;
  EXPECT_NE(h.find(":to:to:to:"), std::string::npos) << "two To fields, three listings: " << h;
  EXPECT_EQ(h.find("received"), std::string::npos) << "trace fields are not signed";
  EXPECT_EQ(tag(u.field, "a"), "ed25519-sha256");
  EXPECT_EQ(tag(u.field, "d"), "agency-a.govt.nz");
  EXPECT_EQ(tag(u.field, "s"), "sel-1");
  EXPECT_EQ(tag(u.field, "t"), "1700");
  // To is listed after Subject: the bottom To first, then the top one.
  const auto second = u.signed_data.find("to:second@agency-c.govt.nz\r\n");
  const auto first = u.signed_data.find("to:first@agency-c.govt.nz\r\n");
  ASSERT_NE(second, std::string::npos);
  ASSERT_NE(first, std::string::npos);
  EXPECT_LT(second, first);
  EXPECT_NE(u.signed_data.find("subject:Budget figures\r\n"), std::string::npos);
  // The signature field comes last, canonical, with b= empty and no CRLF.
  EXPECT_TRUE(u.signed_data.ends_with("b=")) << u.signed_data;
  EXPECT_NE(u.signed_data.rfind("dkim-signature:v=1; a=ed25519-sha256;"), std::string::npos);
  EXPECT_EQ(to_be_signed(u).size(), 32u) << "Ed25519 signs the SHA-256 digest (RFC 8463)";
}

TEST(Dkim, TheSignatureFieldIsFoldedAndEndsTheHeaderLine) {
  const auto u = prepare("From: a@agency-a.govt.nz\r\n\r\nx\r\n", {"agency-a.govt.nz", "s"});
  const std::string field = signature_field(u, std::string(256, '\x5a'));
  EXPECT_TRUE(field.starts_with("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;"));
  EXPECT_TRUE(field.ends_with("\r\n"));
  for (std::size_t at = 0, nl; (nl = field.find("\r\n", at)) != std::string::npos; at = nl + 2)
    EXPECT_LE(nl - at, 78u) << field.substr(at, nl - at);
  EXPECT_EQ(mime::decode_base64(tag(field, "b")), std::string(256, '\x5a'));
}

TEST(Dkim, TheTxtRecordSplitsLongKeysInto255ByteStrings) {
  const std::string record =
      txt_record("s2027", "agency-a.govt.nz", Algorithm::rsa_sha256, std::string(294, 'k'));
  EXPECT_TRUE(
      record.starts_with("s2027._domainkey.agency-a.govt.nz. 3600 IN TXT \"v=DKIM1; k=rsa; p="))
      << record;
  EXPECT_NE(record.find("\" \""), std::string::npos) << "392 base64 characters need two strings";
  EXPECT_EQ(parse_key_type("ed25519"), Algorithm::ed25519_sha256);
  EXPECT_FALSE(parse_key_type("dsa"));
}

}  // namespace
}  // namespace seegw::dkim
