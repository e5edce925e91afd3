// DKIM keys in the HSM (Secure Government Email): one key pair per selector, labelled
// "dkim-SELECTOR", generated inside the token and never leaving it; the selectors that sign (at
// most one per algorithm, so RSA and Ed25519 sign side by side, RFC 8463 §5) kept in a file
// across restarts. Rotation is three console steps: `dkim generate` (publish the TXT record it
// prints), `dkim sign` once DNS has it, `dkim retire` of the old key once mail signed with it
// has been verified. One owner: the data plane, which holds the PIN.
#pragma once

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/dkim/signature.hpp"
#include "seegw/pkcs11/hsm.hpp"

namespace seegw::keys {

struct DkimSelector {
  std::string selector;
  dkim::Algorithm algorithm = dkim::Algorithm::rsa_sha256;
};

class DkimKeys {
 public:
  // `state`: where the signing selectors are kept ("SELECTOR TYPE" lines).
  DkimKeys(pkcs11::HsmConfig hsm, std::filesystem::path state);
  ~DkimKeys();
  bool configured() const { return !hsm_.token_label.empty(); }

  // The selectors that sign now; empty: mail leaves unsigned.
  std::vector<DkimSelector> signing();
  // One signature over dkim::to_be_signed() by the selector's key. Errc::unavailable when the
  // HSM cannot sign right now (the message waits: unsigned mail would fail our DMARC).
  Result<std::string> sign(const DkimSelector& selector, std::string_view data);

  // Every DKIM key in the token with the TXT record text (RFC 6376 §3.6.1) it needs.
  struct Published {
    DkimSelector key;
    bool signing = false;
    std::string text;  // "v=DKIM1; k=...; p=..."
  };
  Result<std::vector<Published>> published();

  // `dkim list|generate SELECTOR TYPE|sign SELECTOR|retire SELECTOR` from the admin socket:
  // "ok ..." or "error: ...". `domains`: ours, for the TXT records printed.
  std::string command(const std::vector<std::string>& words,
                      const std::vector<std::string>& domains);

 private:
  Result<pkcs11::TokenSession*> session();  // mutex_ held
  std::string list(const std::vector<std::string>& domains);
  std::string generate(const std::string& selector, const std::string& type,
                       const std::vector<std::string>& domains);
  std::string sign_with(const std::string& selector);
  std::string retire(const std::string& selector);
  Result<std::vector<Published>> published_locked();
  Result<Published> published_one(const std::string& selector);
  Result<void> keep(std::vector<DkimSelector> selectors);  // writes state_, then takes them

  const pkcs11::HsmConfig hsm_;
  const std::filesystem::path state_;
  std::mutex mutex_;  // the session and the list below
  std::unique_ptr<pkcs11::TokenSession> session_;
  std::vector<DkimSelector> signing_;
};

// The token label of a selector's key pair.
std::string dkim_key_label(std::string_view selector);

}  // namespace seegw::keys
