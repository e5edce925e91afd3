// The gateway's private keys live in a FIPS 140 HSM and never leave it (OPS-5, OUT-7, IN-1).
// Two faces: TokenSession (raw PKCS#11) for key management by the administrator's tool, and Hsm
// (libp11) for OpenSSL: EVP_PKEYs whose private operations run inside the token.
// The user PIN comes only from a file readable by its owner alone; it is never logged.
#pragma once

#include <openssl/evp.h>

#include <ctime>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/x509/certificate.hpp"

namespace seegw::pkcs11 {

struct HsmConfig {
  std::string module_path = "/usr/lib/softhsm/libsofthsm2.so";
  std::string token_label;
  std::string pin_file;
};

// The PIN file's first line; refused when group or others may read the file.
Result<std::string> read_pin_file(const std::string& path);

enum class KeyType { rsa2048, rsa3072, rsa4096, ec_p256, ec_p384, ed25519 };
Result<KeyType> parse_key_type(std::string_view text);  // "rsa:2048", "ec:P-256", "ed25519"...

// The signature mechanisms a TokenSession signs with: RSA PKCS#1 v1.5 over SHA-256 (the token
// hashes), and PureEdDSA (Ed25519: the token signs the bytes it is given).
enum class SignMechanism { sha256_rsa_pkcs, eddsa };

// An EVP_PKEY holding only a public key.
struct PublicKeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using PublicKey = std::unique_ptr<EVP_PKEY, PublicKeyFree>;

struct KeyInfo {
  std::string label;
  std::string type;
  bool sensitive = false;
  bool extractable = true;
  bool always_sensitive = false;
  bool never_extractable = false;
  bool value_readable = true;  // C_GetAttributeValue of the private value succeeded (must not)
};

class TokenSession {
 public:
  static Result<std::unique_ptr<TokenSession>> open(const HsmConfig& config);
  ~TokenSession();
  TokenSession(const TokenSession&) = delete;
  TokenSession& operator=(const TokenSession&) = delete;

  // A key pair generated inside the token: CKA_SENSITIVE, not CKA_EXTRACTABLE, private.
  Result<void> generate_key_pair(std::string_view label, KeyType type);
  Result<void> import_certificate(std::string_view label, X509* cert);
  // §2.3: when the key pair was made (its public key's CKA_START_DATE, set by generate_key_pair);
  // none for a key made elsewhere without one.
  Result<std::optional<std::time_t>> key_created(std::string_view label);
  // Compromise recovery (OPS-5): destroys every object with the label (keys and certificate).
  Result<std::size_t> destroy_objects(std::string_view label);
  Result<std::vector<KeyInfo>> private_keys();
  // One CKM_SHA256_RSA_PKCS signature in this session: the raw HSM ceiling for benchmarks.
  Result<std::string> sign_sha256_rsa(std::string_view label, std::string_view data);
  // One signature by the private key with this label. Errc::unavailable when the session or
  // token is gone (open a new session and try again), Errc::config when there is no such key.
  Result<std::string> sign(std::string_view label, SignMechanism mechanism, std::string_view data);
  // The public half of the key pair with this label (RSA or Ed25519), for what we publish.
  Result<PublicKey> public_key(std::string_view label);

 private:
  TokenSession() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

class Hsm {
 public:
  static Result<std::unique_ptr<Hsm>> open(const HsmConfig& config);
  ~Hsm();
  Hsm(const Hsm&) = delete;
  Hsm& operator=(const Hsm&) = delete;

  // The token's private key with this label, for OpenSSL; owned by the Hsm. Fails closed
  // (Errc::unavailable) when the token is gone.
  Result<EVP_PKEY*> private_key(std::string_view label);
  Result<x509::Certificate> certificate(std::string_view label);
  // The labels of the token's certificates: with the current key's, the earlier key pairs that
  // still decrypt mail in transit until the administrator retires them (OPS-5, §2.3).
  Result<std::vector<std::string>> certificate_labels();
  // Is the token there, our session logged in, and the key able to sign? Logs in again when the
  // token came back. Errc::unavailable when not: the data plane then stops accepting and sending
  // (OPS-1). The test signature costs one private-key operation per check.
  Result<void> check(std::string_view key_label);

 private:
  Hsm() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A PKCS#10 request signed by `key` (a token key): CN and rfc822Name SANs (RFC 3183 naming).
Result<std::string> make_csr(EVP_PKEY* key, std::string_view common_name,
                             const std::vector<std::string>& emails);

}  // namespace seegw::pkcs11
