// DKIM signatures (RFC 6376) as the gateway makes them, without the key: relaxed/relaxed
// canonicalisation, the header fields that matter over-signed, the DKIM-Signature field to
// prepend, and the DNS TXT record that publishes a selector's public key. Pure: the private key
// operation (in the HSM) is the caller's, between prepare() and signature_field().
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace seegw::dkim {

enum class Algorithm { rsa_sha256, ed25519_sha256 };
std::string_view algorithm_name(Algorithm a);                 // "rsa-sha256", "ed25519-sha256"
std::string_view key_type_name(Algorithm a);                  // the k= tag: "rsa", "ed25519"
std::optional<Algorithm> parse_key_type(std::string_view k);  // "rsa" | "ed25519"

// RFC 6376 §3.4.4: each line's white-space runs as one space, none at a line's end, no empty
// lines at the end, CRLF line ends (a bare LF ends a line too, as the SMTP client sends it).
std::string relaxed_body(std::string_view body);
// §3.4.2: "name:value\r\n" — the name in lower case, the value unfolded, runs of white space as
// one space, none around the colon or at the ends.
std::string relaxed_header(std::string_view name, std::string_view value);

// The header fields signed when present, each listed once more than it occurs so that none can
// be added after signing (§8.15); From always.
const std::vector<std::string_view>& signed_header_names();

struct SignatureRequest {
  std::string domain;    // d=
  std::string selector;  // s=
  Algorithm algorithm = Algorithm::rsa_sha256;
  std::time_t timestamp = 0;  // t=
};

// What the key signs, and the field the signature completes.
struct UnsignedSignature {
  std::string field;  // "DKIM-Signature: v=1; ... b=" (folded, without the value of b=)
  // The bytes the signature covers (§3.7): the signed header fields canonicalised, then this
  // field with an empty b=. RSA signs them (the HSM hashes with SHA-256); Ed25519 signs
  // their SHA-256 digest (RFC 8463 §3), see to_be_signed().
  std::string signed_data;
  Algorithm algorithm = Algorithm::rsa_sha256;
};

UnsignedSignature prepare(std::string_view message, const SignatureRequest& request);
// The bytes the HSM's key signs: signed_data for RSA (CKM_SHA256_RSA_PKCS), its SHA-256 digest
// for Ed25519 (PureEdDSA over the hash).
std::string to_be_signed(const UnsignedSignature& u);
// The whole field, b= filled and folded, ending in CRLF: prepended to the message.
std::string signature_field(const UnsignedSignature& u, std::string_view signature);

// The key record's text: `public_key` is the SubjectPublicKeyInfo (DER) for RSA, the 32 raw
// bytes for Ed25519 (RFC 8463 §4).
std::string txt_text(Algorithm a, std::string_view public_key);
// The zone-file line for SELECTOR._domainkey.DOMAIN with that text, split into 255-byte strings.
std::string zone_line(std::string_view selector, std::string_view domain, std::string_view text);
inline std::string txt_record(std::string_view selector, std::string_view domain, Algorithm a,
                              std::string_view public_key) {
  return zone_line(selector, domain, txt_text(a, public_key));
}

}  // namespace seegw::dkim
