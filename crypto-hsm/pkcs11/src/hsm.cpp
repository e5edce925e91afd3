// libp11 turns token keys into EVP_PKEYs: OpenSSL's CMS code signs and decrypts with them while
// the private key operation runs inside the token. libp11 keeps its own pool of sessions per slot
// and locks around it, so one Hsm serves every worker thread.
#include <fmt/format.h>
#include <libp11.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <map>
#include <mutex>
#include <span>

#include "module_users.hpp"
#include "seegw/pkcs11/hsm.hpp"

namespace seegw::pkcs11 {

struct Hsm::Impl {
  PKCS11_CTX* ctx = nullptr;
  PKCS11_SLOT* slots = nullptr;
  unsigned int nslots = 0;
  PKCS11_SLOT* slot = nullptr;
  std::mutex mutex;
  std::map<std::string, EVP_PKEY*, std::less<>> keys;
  std::string pin;  // kept for logging in again after the token returns; wiped on destruction

  std::string module_path;
  bool counted = false;  // in ModuleUsers, from a successful load on

  ~Impl() {
    OPENSSL_cleanse(pin.data(), pin.size());
    for (auto& [label, key] : keys) EVP_PKEY_free(key);
    // Unloading finalizes the module for the whole process: only its last user does (ModuleUsers).
    const bool last = counted && ModuleUsers::leave(module_path);
    if (slots) PKCS11_release_all_slots(ctx, slots, nslots);
    if (ctx) {
      if (last) PKCS11_CTX_unload(ctx);
      PKCS11_CTX_free(ctx);
    }
  }
};

Result<std::unique_ptr<Hsm>> Hsm::open(const HsmConfig& config) {
  auto pin = read_pin_file(config.pin_file);
  if (!pin) return std::unexpected(pin.error());
  std::unique_ptr<Hsm> h(new Hsm());
  h->impl_ = std::make_unique<Impl>();
  auto& i = *h->impl_;
  i.ctx = PKCS11_CTX_new();
  if (!i.ctx || PKCS11_CTX_load(i.ctx, config.module_path.c_str()) != 0)
    return fail(Errc::config, "cannot load PKCS#11 module " + config.module_path);
  ModuleUsers::enter(config.module_path);
  i.module_path = config.module_path;
  i.counted = true;
  if (PKCS11_enumerate_slots(i.ctx, &i.slots, &i.nslots) != 0)
    return fail(Errc::unavailable, "cannot list HSM slots");
  for (unsigned s = 0; s < i.nslots; ++s) {
    PKCS11_SLOT* slot = &i.slots[s];
    if (slot->token && slot->token->label && config.token_label == slot->token->label)
      i.slot = slot;
  }
  if (!i.slot)
    return fail(Errc::unavailable, fmt::format("no token labelled '{}'", config.token_label));
  if (PKCS11_open_session(i.slot, 0) != 0 || PKCS11_login(i.slot, 0, pin->c_str()) != 0)
    return fail(Errc::unavailable, "HSM login failed (PIN not shown)");
  i.pin = std::move(*pin);
  return h;
}

Hsm::~Hsm() = default;

Result<EVP_PKEY*> Hsm::private_key(std::string_view label) {
  auto& i = *impl_;
  std::lock_guard lock(i.mutex);
  if (auto it = i.keys.find(label); it != i.keys.end()) return it->second;
  PKCS11_KEY* keys = nullptr;
  unsigned int n = 0;
  if (PKCS11_enumerate_keys(i.slot->token, &keys, &n) != 0)
    return fail(Errc::unavailable, "cannot list HSM keys");
  for (unsigned k = 0; k < n; ++k) {
    if (!keys[k].isPrivate || !keys[k].label || label != keys[k].label) continue;
    EVP_PKEY* pkey = PKCS11_get_private_key(&keys[k]);
    if (!pkey) return fail(Errc::unavailable, fmt::format("HSM key '{}' cannot be used", label));
    i.keys.emplace(std::string(label), pkey);
    return pkey;
  }
  return fail(Errc::config, fmt::format("no private key labelled '{}' in the HSM", label));
}

Result<void> Hsm::check(std::string_view key_label) {
  auto& i = *impl_;
  {
    std::lock_guard lock(i.mutex);
    int logged_in = 0;
    if (PKCS11_is_logged_in(i.slot, 0, &logged_in) != 0 || !logged_in) {
      ERR_clear_error();
      if (PKCS11_login(i.slot, 0, i.pin.c_str()) != 0) {
        ERR_clear_error();
        return fail(Errc::unavailable, "HSM token not available (session lost and login failed)");
      }
    }
  }
  // A session can outlive its token (a module that caches objects): only an operation tells.
  auto key = private_key(key_label);
  if (!key) return std::unexpected(key.error());
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  unsigned char sig[1024];
  std::size_t len = sizeof sig;
  static const unsigned char probe[] = "seegw HSM health check";
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, *key) != 1 ||
      EVP_DigestSign(ctx.get(), sig, &len, probe, sizeof probe) != 1) {
    ERR_clear_error();
    return fail(Errc::unavailable, "HSM key cannot sign (token removed or failing)");
  }
  return {};
}

namespace {

// The token's certificates that have a label and a value (libp11 owns the array).
Result<std::span<PKCS11_CERT>> labelled_certificates(PKCS11_SLOT* slot) {
  PKCS11_CERT* certs = nullptr;
  unsigned int n = 0;
  if (PKCS11_enumerate_certs(slot->token, &certs, &n) != 0)
    return fail(Errc::unavailable, "cannot list HSM certificates");
  return std::span<PKCS11_CERT>(certs, n);
}

}  // namespace

Result<x509::Certificate> Hsm::certificate(std::string_view label) {
  auto& i = *impl_;
  std::lock_guard lock(i.mutex);
  auto certs = labelled_certificates(i.slot);
  if (!certs) return std::unexpected(certs.error());
  for (const auto& c : *certs)
    if (c.label && label == c.label && c.x509) return x509::share(c.x509);
  return fail(Errc::config, fmt::format("no certificate labelled '{}' in the HSM", label));
}

Result<std::vector<std::string>> Hsm::certificate_labels() {
  auto& i = *impl_;
  std::lock_guard lock(i.mutex);
  auto certs = labelled_certificates(i.slot);
  if (!certs) return std::unexpected(certs.error());
  std::vector<std::string> out;
  for (const auto& c : *certs)
    if (c.label && c.x509) out.emplace_back(c.label);
  return out;
}

Result<std::string> make_csr(EVP_PKEY* key, std::string_view common_name,
                             const std::vector<std::string>& emails) {
  std::unique_ptr<X509_REQ, decltype(&X509_REQ_free)> req(X509_REQ_new(), X509_REQ_free);
  X509_NAME* name = X509_REQ_get_subject_name(req.get());
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(common_name.data()),
                             static_cast<int>(common_name.size()), -1, 0);
  X509_REQ_set_pubkey(req.get(), key);
  if (!emails.empty()) {
    std::string san;
    for (const auto& e : emails) san += (san.empty() ? "email:" : ",email:") + e;
    STACK_OF(X509_EXTENSION)* exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, nullptr, NID_subject_alt_name, san.c_str());
    if (!ext) {
      sk_X509_EXTENSION_free(exts);
      return fail(Errc::parse, "bad e-mail address for the request");
    }
    sk_X509_EXTENSION_push(exts, ext);
    X509_REQ_add_extensions(req.get(), exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  }
  if (X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) {
    ERR_clear_error();
    return fail(Errc::unavailable, "the HSM did not sign the request");
  }
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace seegw::pkcs11
