#include "seegw/keys/key_service.hpp"

#include "handle.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::keys {

namespace {
// The key pair that signs: [hsm] key_label until a `key switch`, which is kept on disk. A file
// that names no label is ignored, loudly.
std::string chosen_label(const KeySettings& s) {
  auto switched = read_file(s.choice);
  if (!switched) return s.key_label;
  std::string label(trim_view(*switched));
  if (is_key_label(label)) return label;
  log::error("hsm: {} names no key label; signing with [hsm] key_label {}", s.choice.string(),
             s.key_label);
  return s.key_label;
}
}  // namespace

KeyService::KeyService(KeySettings settings)
    : settings_(std::move(settings)), label_(chosen_label(settings_)) {}

KeyService::~KeyService() = default;

pkcs11::Hsm& KeyService::TokenAccess::hsm() { return live ? *live->hsm : *own; }

std::string KeyService::label() {
  std::lock_guard lock(mutex_);
  return label_;
}

void KeyService::drop_handle() {
  std::lock_guard lock(mutex_);
  handle_.reset();
}

void KeyService::set_chain(std::vector<x509::Certificate> chain) {
  auto shared = std::make_shared<const std::vector<x509::Certificate>>(std::move(chain));
  std::lock_guard lock(mutex_);
  chain_ = std::move(shared);
}

// The token opened, the key that signs and its certificate read, and every other key pair with a
// certificate kept for decryption.
Result<std::shared_ptr<KeyService::Handle>> KeyService::open_handle() {
  auto opened = pkcs11::Hsm::open(settings_.hsm);
  if (!opened) return std::unexpected(opened.error());
  auto fresh = std::make_shared<Handle>();
  fresh->hsm = std::move(*opened);
  fresh->label = label();
  auto key = fresh->hsm->private_key(fresh->label);
  if (!key) return std::unexpected(key.error());
  auto cert = fresh->hsm->certificate(fresh->label);
  if (!cert) return std::unexpected(cert.error());
  fresh->key = *key;
  fresh->certificate = std::move(*cert);
  // Read once per opening of the token, not at every check.
  if (auto session = pkcs11::TokenSession::open(settings_.hsm))
    if (auto created = (*session)->key_created(fresh->label)) fresh->created = *created;
  if (auto labels = fresh->hsm->certificate_labels()) {
    for (const auto& other : *labels) {
      if (other == fresh->label) continue;
      auto earlier_key = fresh->hsm->private_key(other);
      auto earlier_cert = fresh->hsm->certificate(other);
      if (earlier_key && earlier_cert)
        fresh->earlier.emplace_back(*earlier_key, std::move(*earlier_cert));
    }
  }
  return fresh;
}

Result<KeyInUse> KeyService::check() {
  if (!configured()) return fail(Errc::config, "no HSM is configured ([hsm] token)");
  std::lock_guard checking(check_mutex_);
  std::shared_ptr<Handle> handle;
  {
    std::lock_guard lock(mutex_);
    handle = handle_;
  }
  if (!handle) {
    auto opened = open_handle();
    if (!opened) return fail(Errc::unavailable, "HSM: " + opened.error().message);
    handle = *opened;
    std::lock_guard lock(mutex_);
    handle_ = handle;
  }
  if (auto ok = handle->hsm->check(handle->label); !ok) {
    std::lock_guard lock(mutex_);
    if (handle_ == handle) handle_.reset();  // users keep theirs alive
    return fail(Errc::unavailable, "HSM: " + ok.error().message);
  }
  return KeyInUse{handle, handle->certificate.get(), handle->created};
}

Result<SigningKeys> KeyService::signing_keys() {
  if (!configured())
    return fail(Errc::config, "no HSM is configured ([hsm] token): the gateway cannot sign");
  std::shared_ptr<Handle> handle;
  std::shared_ptr<const std::vector<x509::Certificate>> chain;
  {
    std::lock_guard lock(mutex_);
    handle = handle_;
    chain = chain_;
  }
  if (!handle || !signing_allowed_.load())
    return fail(Errc::unavailable, "the HSM is not available");
  // OUT-7: every signature carries the issuer chain; the owner keeps both alive while in use.
  struct InUse {
    std::shared_ptr<Handle> handle;
    std::shared_ptr<const std::vector<x509::Certificate>> chain;
  };
  SigningKeys keys{std::make_shared<const InUse>(InUse{handle, chain}),
                   handle->key,
                   handle->certificate.get(),
                   {},
                   {}};
  if (chain)
    for (const auto& c : *chain) keys.chain.push_back(c.get());
  for (const auto& [key, cert] : handle->earlier) keys.earlier.push_back({key, cert.get()});
  return keys;
}

Result<std::string> KeyService::certificate_pem() {
  if (!configured()) return fail(Errc::config, "no HSM is configured ([hsm] token)");
  {
    std::lock_guard lock(mutex_);
    if (handle_ && handle_->certificate && handle_->label == label_)
      return x509::to_pem(handle_->certificate.get());
  }
  // Right after a key switch, before the next check opens the token again.
  std::lock_guard checking(check_mutex_);
  auto token = token_access();
  if (!token) return std::unexpected(token.error());
  auto cert = token->hsm().certificate(label());
  if (!cert) return std::unexpected(cert.error());
  return x509::to_pem(cert->get());
}

}  // namespace seegw::keys
