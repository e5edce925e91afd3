// The gateway's keys in the HSM, with one owner: which key pair signs (and the earlier ones that
// still decrypt, §2.3), whether the token works right now, the issuer chain every signature
// carries (OUT-7), and the administrator's key commands (OPS-5). The SEEMail stage sees only
// KeyRing: the keys to sign and decrypt with, and whether the token is there.
#pragma once

#include <openssl/evp.h>

#include <atomic>
#include <ctime>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "seegw/cms/smime.hpp"
#include "seegw/common/error.hpp"
#include "seegw/pkcs11/hsm.hpp"

namespace seegw::keys {

// The gateway's own key (in the HSM) and certificate, valid while `owner` is held.
struct SigningKeys {
  std::shared_ptr<const void> owner;
  EVP_PKEY* key = nullptr;
  X509* certificate = nullptr;
  std::vector<X509*> chain;
  std::vector<cms::Decryptor> earlier;  // earlier key pairs that still decrypt (§2.3)
};

class KeyRing {
 public:
  virtual ~KeyRing() = default;
  // Errc::unavailable: the HSM is down right now (try later). Errc::config: there is none.
  virtual Result<SigningKeys> signing_keys() = 0;
  // Is the HSM working right now (one test signature)? Asked only when a decryption failed, to
  // tell "not for our key" (deliver with a warning) from "the token just went away" (retry later).
  virtual bool working() = 0;
};

struct KeySettings {
  pkcs11::HsmConfig hsm;         // an empty token label: no HSM is configured
  std::string key_label;         // [hsm] key_label: signs until a `key switch`
  std::filesystem::path choice;  // where a `key switch` is kept across restarts
};

// The key pair that signs, as the last check found it in the token.
struct KeyInUse {
  std::shared_ptr<const void> owner;  // keeps `certificate` alive
  X509* certificate = nullptr;
  std::optional<std::time_t> created;  // its CKA_START_DATE, when the token has one
};

class KeyService final : public KeyRing {
 public:
  explicit KeyService(KeySettings settings);
  ~KeyService() override;
  bool configured() const { return !settings_.hsm.token_label.empty(); }

  // Opens the token when it is not open, and has the key that signs make one test signature.
  // Errc::unavailable (with the token's reason) when it cannot; the token is opened afresh next
  // time. Serialised: two threads never open the PKCS#11 module side by side.
  Result<KeyInUse> check();
  // OUT-7: the issuers of our certificate, carried in every signature.
  void set_chain(std::vector<x509::Certificate> chain);
  // OPS-1: nothing is signed while the gateway is not operational.
  void allow_signing(bool allowed) { signing_allowed_ = allowed; }

  Result<SigningKeys> signing_keys() override;
  // Without an HSM there is nothing to be down: a failed decryption is then for another key.
  bool working() override { return !configured() || check().has_value(); }

  // The label of the key pair that signs: [hsm] key_label until a `key switch`.
  std::string label();
  // Our certificate in PEM (§2.15: what is published in the directory).
  Result<std::string> certificate_pem();

  // "" when we may sign with this certificate, else the reason (§2.9).
  using Vetting = std::function<std::string(X509* certificate)>;
  // `key list|generate|csr|install|switch|retire ...` from the admin socket: "ok ..." or
  // "error: ...", then rows (seegw/common/admin_protocol.hpp).
  std::string command(const std::vector<std::string>& words, const Vetting& vet);

 private:
  struct Handle;
  // The token for reading, through the live session when there is one (see key_commands.cpp).
  struct TokenAccess {
    std::shared_ptr<Handle> live;
    std::unique_ptr<pkcs11::Hsm> own;
    pkcs11::Hsm& hsm();
  };
  Result<std::shared_ptr<Handle>> open_handle();
  Result<TokenAccess> token_access();
  void drop_handle();  // the next check opens the token afresh
  std::string list();
  std::string generate(const std::string& label, const std::vector<std::string>& words);
  std::string csr(const std::string& label, const std::vector<std::string>& words);
  std::string install(const std::string& label, const std::string& base64, const Vetting& vet);
  std::string retire(const std::string& label);
  // §2.3 change-over: LABEL's key signs from now on (kept in settings_.choice); the one before
  // still decrypts until it is retired.
  std::string switch_to(const std::string& label, const Vetting& vet);

  const KeySettings settings_;
  std::mutex check_mutex_;  // one check or key command at a time
  std::mutex mutex_;  // guards the three below (the pointers, not the session: libp11 locks that)
  std::shared_ptr<Handle> handle_;
  std::string label_;
  std::shared_ptr<const std::vector<x509::Certificate>> chain_;
  std::atomic<bool> signing_allowed_{true};
};

}  // namespace seegw::keys
