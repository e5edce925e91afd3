#include "seegw/keys/dkim_keys.hpp"

#include <fmt/format.h>
#include <openssl/x509.h>

#include <algorithm>
#include <sstream>

#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"

namespace seegw::keys {
namespace {

std::vector<DkimSelector> read_state(const std::filesystem::path& state) {
  std::vector<DkimSelector> out;
  auto text = read_file(state.string());
  if (!text) return out;  // none chosen yet: nothing signs
  std::istringstream in(*text);
  for (std::string selector, type; in >> selector >> type;) {
    if (auto a = dkim::parse_key_type(type))
      out.push_back({selector, *a});
    else
      log::error("dkim: {} names an unknown key type '{}' for {}; it does not sign", state.string(),
                 type, selector);
  }
  return out;
}

// What the TXT record publishes: SubjectPublicKeyInfo for RSA, the raw key for Ed25519.
Result<std::string> published_key(EVP_PKEY* key, dkim::Algorithm* algorithm) {
  if (EVP_PKEY_get_base_id(key) == EVP_PKEY_ED25519) {
    std::string raw(32, '\0');
    std::size_t n = raw.size();
    if (EVP_PKEY_get_raw_public_key(key, reinterpret_cast<unsigned char*>(raw.data()), &n) != 1)
      return fail(Errc::tls, "the Ed25519 public key cannot be encoded");
    *algorithm = dkim::Algorithm::ed25519_sha256;
    return raw;
  }
  const int len = i2d_PUBKEY(key, nullptr);
  if (len <= 0) return fail(Errc::tls, "the RSA public key cannot be encoded");
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  i2d_PUBKEY(key, &p);
  *algorithm = dkim::Algorithm::rsa_sha256;
  return der;
}

std::string error(const Error& e) { return "error: " + e.message; }

// The zone-file lines for one key in each of our domains.
std::string zone_lines(const DkimKeys::Published& p, const std::vector<std::string>& domains) {
  std::string out;
  for (const auto& d : domains) out += dkim::zone_line(p.key.selector, d, p.text) + "\n";
  return out;
}

}  // namespace

std::string dkim_key_label(std::string_view selector) { return "dkim-" + std::string(selector); }

DkimKeys::DkimKeys(pkcs11::HsmConfig hsm, std::filesystem::path state)
    : hsm_(std::move(hsm)), state_(std::move(state)), signing_(read_state(state_)) {}

DkimKeys::~DkimKeys() = default;

std::vector<DkimSelector> DkimKeys::signing() {
  std::lock_guard lock(mutex_);
  return signing_;
}

Result<pkcs11::TokenSession*> DkimKeys::session() {
  if (!session_) {
    auto opened = pkcs11::TokenSession::open(hsm_);
    if (!opened) return std::unexpected(opened.error());
    session_ = std::move(*opened);
  }
  return session_.get();
}

Result<std::string> DkimKeys::sign(const DkimSelector& selector, std::string_view data) {
  const auto mechanism = selector.algorithm == dkim::Algorithm::ed25519_sha256
                             ? pkcs11::SignMechanism::eddsa
                             : pkcs11::SignMechanism::sha256_rsa_pkcs;
  std::lock_guard lock(mutex_);
  Result<std::string> signature = fail(Errc::unavailable, "no HSM session");
  // A session the token dropped (libp11 reopening its own closes every session of the slot)
  // is opened afresh once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto s = session();
    if (!s) return fail(Errc::unavailable, "DKIM: " + s.error().message);
    signature = (*s)->sign(dkim_key_label(selector.selector), mechanism, data);
    if (signature || signature.error().code != Errc::unavailable) break;
    session_.reset();
  }
  if (!signature && signature.error().code != Errc::unavailable)
    return fail(Errc::unavailable, "DKIM key " + selector.selector + ": " +
                                       signature.error().message);  // a missing key waits too
  return signature;
}

std::string DkimKeys::command(const std::vector<std::string>& words,
                              const std::vector<std::string>& domains) {
  if (!configured()) return "error: no HSM is configured ([hsm] token)";
  const std::string sub = words.size() > 1 ? words[1] : "";
  const std::string selector = words.size() > 2 ? words[2] : "";
  if (sub == "list") return list(domains);
  if (selector.empty()) return "error: dkim " + sub + " needs a selector";
  if (sub == "generate") return generate(selector, words.size() > 3 ? words[3] : "", domains);
  if (sub == "sign") return sign_with(selector);
  if (sub == "retire") return retire(selector);
  return "error: dkim list|generate SELECTOR rsa|ed25519|sign SELECTOR|retire SELECTOR";
}

// One key's record text and state (mutex_ held).
Result<DkimKeys::Published> DkimKeys::published_one(const std::string& selector) {
  auto s = session();
  if (!s) return std::unexpected(s.error());
  auto key = (*s)->public_key(dkim_key_label(selector));
  if (!key) return std::unexpected(key.error());
  Published p;
  p.key.selector = selector;
  auto bytes = published_key(key->get(), &p.key.algorithm);
  if (!bytes) return std::unexpected(bytes.error());
  p.text = dkim::txt_text(p.key.algorithm, *bytes);
  p.signing = std::any_of(signing_.begin(), signing_.end(),
                          [&](const DkimSelector& d) { return d.selector == selector; });
  return p;
}

Result<std::vector<DkimKeys::Published>> DkimKeys::published() {
  std::lock_guard lock(mutex_);
  return published_locked();
}

Result<std::vector<DkimKeys::Published>> DkimKeys::published_locked() {
  auto s = session();
  if (!s) return std::unexpected(s.error());
  auto keys = (*s)->private_keys();
  if (!keys) return std::unexpected(keys.error());
  std::vector<Published> out;
  for (const auto& k : *keys) {
    if (!k.label.starts_with("dkim-")) continue;
    auto p = published_one(k.label.substr(5));
    if (!p) return std::unexpected(p.error());
    out.push_back(std::move(*p));
  }
  return out;
}

std::string DkimKeys::list(const std::vector<std::string>& domains) {
  std::lock_guard lock(mutex_);
  auto keys = published_locked();
  if (!keys) return error(keys.error());
  std::string rows, dns;
  for (const auto& p : *keys) {
    rows += fmt::format("{:<20} {:<8} {}\n", p.key.selector, dkim::key_type_name(p.key.algorithm),
                        p.signing ? "signing" : "not signing");
    dns += zone_lines(p, domains);
  }
  return fmt::format("ok {} DKIM key(s)\n{:<20} {:<8} {}\n{}\nDNS (publish):\n{}", keys->size(),
                     "SELECTOR", "TYPE", "STATE", rows, dns);
}

std::string DkimKeys::generate(const std::string& selector, const std::string& type,
                               const std::vector<std::string>& domains) {
  const auto algorithm = dkim::parse_key_type(type);
  if (!algorithm) return "error: '" + type + "' is not a DKIM key type (rsa, ed25519)";
  std::lock_guard lock(mutex_);
  auto s = session();
  if (!s) return error(s.error());
  const auto key_type = *algorithm == dkim::Algorithm::ed25519_sha256 ? pkcs11::KeyType::ed25519
                                                                      : pkcs11::KeyType::rsa2048;
  if (auto made = (*s)->generate_key_pair(dkim_key_label(selector), key_type); !made)
    return error(made.error());
  auto made = published_one(selector);
  if (!made) return error(made.error());
  log::notice("dkim: key {} ({}) generated inside the HSM", selector, type);
  return fmt::format(
      "ok DKIM key {} ({}) generated inside the HSM; it does not sign yet.\n"
      "Publish in DNS:\n{}Then, once the record resolves: dkim sign {}\n",
      selector, type, zone_lines(*made, domains), selector);
}

std::string DkimKeys::sign_with(const std::string& selector) {
  std::lock_guard lock(mutex_);
  auto chosen = published_one(selector);
  if (!chosen && chosen.error().code == Errc::config)
    return "error: no DKIM key " + selector + " in the HSM (dkim generate first)";
  if (!chosen) return error(chosen.error());
  const dkim::Algorithm algorithm = chosen->key.algorithm;
  std::vector<DkimSelector> next;
  std::string replaced;
  for (const auto& d : signing_) {
    if (d.algorithm == algorithm)
      replaced = d.selector;
    else
      next.push_back(d);
  }
  next.push_back({selector, algorithm});
  if (auto kept = keep(std::move(next)); !kept) return error(kept.error());
  log::notice("dkim: {} ({}) signs from now on{}", selector, dkim::key_type_name(algorithm),
              replaced.empty() ? "" : " instead of " + replaced);
  return fmt::format(
      "ok {} ({}) signs from now on{}", selector, dkim::key_type_name(algorithm),
      replaced.empty() || replaced == selector
          ? ""
          : "; " + replaced + " no longer does: retire it once mail it signed has arrived");
}

std::string DkimKeys::retire(const std::string& selector) {
  std::lock_guard lock(mutex_);
  if (std::any_of(signing_.begin(), signing_.end(),
                  [&](const DkimSelector& d) { return d.selector == selector; }))
    return "error: " + selector + " still signs: dkim sign another selector of its type first";
  auto s = session();
  if (!s) return error(s.error());
  auto destroyed = (*s)->destroy_objects(dkim_key_label(selector));
  if (!destroyed) return error(destroyed.error());
  if (*destroyed == 0) return "error: no DKIM key " + selector + " in the HSM";
  log::notice("dkim: key {} destroyed", selector);
  return "ok DKIM key " + selector + " destroyed; remove its TXT record from DNS";
}

Result<void> DkimKeys::keep(std::vector<DkimSelector> selectors) {
  std::string text;
  for (const auto& d : selectors)
    text += fmt::format("{} {}\n", d.selector, dkim::key_type_name(d.algorithm));
  std::error_code ec;
  std::filesystem::create_directories(state_.parent_path(), ec);
  if (auto w = write_file_atomically(state_, text); !w)
    return fail(Errc::io, "the signing selectors could not be kept in " + state_.string() + ": " +
                              w.error().message);
  signing_ = std::move(selectors);
  return {};
}

}  // namespace seegw::keys
