// S/MIME domain security (RFC 3183 over RFC 5652/5751): the gateway signs a whole outbound message
// with its domain key and envelopes it to the receiving domain's certificate(s); inbound, it
// decrypts with its own key (in the HSM), verifies, and returns the inner message with the
// domain layer stripped. Rules OUT-1, OUT-6, OUT-7, IN-1, IN-3, IN-4.
#pragma once

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/x509/certificate.hpp"

namespace seegw::cms {

// Content-encryption algorithms in the S.E.E. approved list, best first (OUT-6).
enum class Cipher { aes256_gcm, aes256_cbc, aes192_cbc, aes128_gcm, aes128_cbc, des3_cbc };
std::string_view cipher_name(Cipher c);
std::optional<Cipher> cipher_from_oid(std::string_view oid_text);
// Configuration names: "aes256-gcm", "aes256-cbc", "aes192-cbc", "aes128-gcm", "aes128-cbc",
// "des3".
std::optional<Cipher> cipher_from_name(std::string_view name);

// Message digests in the S.E.E. approved list (§2.4: SHA-1 must be supported; SHA-2 is better).
enum class Digest { sha256, sha384, sha512, sha1 };
std::string_view digest_name(Digest d);  // as OpenSSL names it: "SHA256", ...
// Configuration names: "sha256", "sha384", "sha512", "sha1" (any case, "-" allowed).
std::optional<Digest> digest_from_name(std::string_view name);

// ESS security label (RFC 2634 §5.4): policy, classification number, privacy mark text.
struct SecurityLabel {
  std::string policy_oid = "2.16.554.101.8.1.1";  // placeholder policy arc for NZ classifications
  int classification = 0;
  std::string privacy_mark;  // e.g. "RESTRICTED"
};

struct Signer {
  EVP_PKEY* key = nullptr;  // usually an HSM key (pkcs11::Hsm)
  X509* certificate = nullptr;
  std::vector<X509*> chain;  // issuer certificates to include (OUT-7)
};

struct Protection {
  Cipher cipher = Cipher::aes256_cbc;
  bool rsa_oaep = false;          // RSAES-OAEP key transport instead of PKCS#1 v1.5
  std::string digest = "SHA256";  // SHA-1 only for a peer that offers nothing better (OUT-6)
  std::optional<SecurityLabel> label;
  std::vector<Cipher> advertised = {Cipher::aes256_gcm, Cipher::aes256_cbc, Cipher::aes192_cbc,
                                    Cipher::aes128_cbc, Cipher::des3_cbc};  // SMIMECapabilities
  // Listed after the ciphers in SMIMECapabilities, so peers can choose our digest (OUT-6).
  std::vector<Digest> advertised_digests = {Digest::sha256, Digest::sha384, Digest::sha512,
                                            Digest::sha1};
  // The Subject readable in transit: protect() always replaces it (this, or a neutral default);
  // sign() replaces it only when this is set.
  std::optional<std::string> outer_subject;
};

// OUT-9: the only fields of the original header section a secured (enveloped) message shows in
// transit — what the SMTP hop, the peer gateway and the reader's list view need. Everything else
// (Thread-Topic, Keywords, Comments, X- fields, ...) travels only inside the envelope, in the
// signed message/rfc822, and comes back intact at the far side. MIME-Version and Content-* are
// the envelope's own; the Subject is replaced (Protection::outer_subject).
inline constexpr std::string_view kOuterHeaderFields[] = {
    "Received", "Return-Path", "From", "To", "Cc", "Date", "Message-ID", "X-SEEMAIL-Version"};
inline constexpr std::string_view kDefaultOuterSubject = "SEEMail secure message";

// The message signed (opaque, as message/rfc822 inside) and enveloped to `recipients`, as a
// complete RFC 5322 message whose outer header section is kOuterHeaderFields of the original and
// a neutral Subject (OUT-9).
Result<std::string> protect(std::string_view message, const Signer& signer,
                            const std::vector<X509*>& recipients, const Protection& protection);

// OUT-4: the message clear-signed (multipart/signed, detached signature, RFC 5751 §3.5) with the
// domain key, readable by any client; every header field stays (the content is readable anyway),
// the Subject replaced only when Protection::outer_subject says so.
Result<std::string> sign(std::string_view message, const Signer& signer,
                         const Protection& protection);

struct Unprotected {
  std::string message;  // the inner message, domain layer stripped (IN-4)
  // Neither is set when no layer is the domain's — S/MIME between individuals (§1.2): not
  // encrypted to our key, not signed by a domain authority. `message` is then the original.
  bool was_encrypted = false;    // an envelope to our key was opened
  bool was_signed = false;       // a domain authority's signature was checked (`signer`)
  bool signature_valid = false;  // the signature checks out against the signer certificate
  x509::Certificate signer;      // empty when unsigned
  std::vector<x509::Certificate> certificates;  // every certificate the message carried
  std::vector<std::string> capabilities;        // the signer's SMIMECapabilities (OIDs)
  std::optional<SecurityLabel> label;
};

// One of our key pairs that may open an envelope: the current one, or an earlier one not yet
// retired (§2.3 key change-over: mail encrypted to the old certificate is still in transit).
struct Decryptor {
  EVP_PKEY* key = nullptr;  // in the HSM
  X509* certificate = nullptr;
};

// Removes the domain layer only (IN-4, §1.2 individual S/MIME): envelopes addressed to our key
// (`certificate`; any recipient when it is null) and signatures whose signer is a domain
// authority (RFC 3183 CN domain-signing-authority or domain-confidentiality-authority), in any
// nesting. It stops at an envelope for someone else and at an individual's signature, which stay
// byte for byte. `known_certificates` verify messages that carry none. Errc::corrupt: an envelope
// addressed to our key that cannot be decrypted.
Result<Unprotected> unprotect(std::string_view message, EVP_PKEY* key, X509* certificate,
                              const std::vector<X509*>& known_certificates = {});
// The same with several key pairs: an envelope is opened with the one its recipients name.
Result<Unprotected> unprotect(std::string_view message, const std::vector<Decryptor>& keys,
                              const std::vector<X509*>& known_certificates = {});

// OUT-6: the best cipher in `approved` that the peer's capabilities list (OIDs); 3DES when the
// peer lists nothing we know (every S.E.E. gateway must support it).
Cipher choose_cipher(const std::vector<std::string>& peer_capabilities,
                     const std::vector<Cipher>& approved);

// OUT-6, §2.4: the first digest in `approved` (our preference order) that the peer's
// capabilities name, as a digest or as an RSA signature algorithm. A peer that names none gets
// our first SHA-2 choice; SHA-1 only for a peer that names SHA-1 and nothing better we approve.
Digest choose_digest(const std::vector<std::string>& peer_capabilities,
                     const std::vector<Digest>& approved);

}  // namespace seegw::cms
