// OPS-5 through the process that holds the PIN. Every change drops the live handle so the next
// check opens the token afresh: a retired key stops secure mail at once (fail closed), an
// installed certificate is used from the next check on.
#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "handle.hpp"
#include "seegw/common/admin_protocol.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/keys/key_service.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::keys {

namespace {
constexpr std::string_view kUsage =
    "error: key list|generate LABEL [TYPE]|csr LABEL ADDRESS [NAME]|install LABEL "
    "BASE64-PEM|switch LABEL|retire LABEL";

std::string error(const Error& e) { return "error: " + e.message; }
}  // namespace

std::string KeyService::command(const std::vector<std::string>& words, const Vetting& vet) {
  if (!configured()) return "error: no HSM is configured ([hsm] token)";
  const std::string sub = words.size() > 1 ? words[1] : "";
  const std::string label = words.size() > 2 ? words[2] : "";
  if (sub != "list" && label.empty()) return "error: key " + sub + " needs a label";
  // DKIM keys have their own owner and commands (which know whether one still signs).
  if (sub != "list" && label.starts_with("dkim-"))
    return "error: " + label + " is a DKIM key: use dkim generate|sign|retire";
  std::lock_guard serial(check_mutex_);
  if (sub == "list") return list();
  if (sub == "generate") return generate(label, words);
  if (sub == "csr") return csr(label, words);
  if (sub == "install") return install(label, words.size() == 4 ? words[3] : "", vet);
  if (sub == "switch") return switch_to(label, vet);
  if (sub == "retire") return retire(label);
  return std::string(kUsage);
}

// The key commands read keys and certificates through the live libp11 context when there is
// one: a second context, opening its session, closes every session of the slot (libp11 resets
// the slot's pool) — the signing key's and a TokenSession's among them.
Result<KeyService::TokenAccess> KeyService::token_access() {
  TokenAccess access;
  {
    std::lock_guard lock(mutex_);
    access.live = handle_;
  }
  if (access.live) return access;
  auto opened = pkcs11::Hsm::open(settings_.hsm);
  if (!opened) return std::unexpected(opened.error());
  access.own = std::move(*opened);
  return access;
}

std::string KeyService::list() {
  auto session = pkcs11::TokenSession::open(settings_.hsm);
  if (!session) return error(session.error());
  const std::string in_use = label();
  auto keys = (*session)->private_keys();
  if (!keys) return error(keys.error());
  std::string out(admin::kRowsHeader);
  out += "\n";
  for (const auto& k : *keys)
    out += admin::encode(admin::KeyRow{k.label, k.type, k.label == in_use ? "in use" : "-",
                                       k.sensitive && !k.extractable && !k.value_readable
                                           ? "cannot leave the token"
                                           : "EXTRACTABLE"});
  return out;
}

std::string KeyService::generate(const std::string& label, const std::vector<std::string>& words) {
  auto type = pkcs11::parse_key_type(words.size() > 3 ? words[3] : "rsa:2048");
  if (!type) return error(type.error());
  auto session = pkcs11::TokenSession::open(settings_.hsm);
  if (!session) return error(session.error());
  if (auto existing = (*session)->private_keys())
    for (const auto& k : *existing)
      if (k.label == label) return "error: a key labelled " + label + " exists; retire it first";
  if (auto g = (*session)->generate_key_pair(label, *type); !g) return error(g.error());
  log::notice("hsm: key pair {} generated", label);
  return "ok key pair " + label + " generated inside the token";
}

std::string KeyService::csr(const std::string& label, const std::vector<std::string>& words) {
  if (words.size() < 4) return "error: key csr needs a label and an address";
  auto token = token_access();
  if (!token) return error(token.error());
  auto key = token->hsm().private_key(label);
  if (!key) return error(key.error());
  std::string cn = "domain-confidentiality-authority";
  if (words.size() > 4) {
    cn.clear();
    for (std::size_t i = 4; i < words.size(); ++i) cn += (cn.empty() ? "" : " ") + words[i];
  }
  auto request = pkcs11::make_csr(*key, cn, {words[3]});
  if (!request) return error(request.error());
  log::notice("hsm: certificate request made for key {}", label);
  return "ok\n" + *request;
}

// Every check that reads the token comes before the TokenSession that writes the certificate
// (see token_access).
std::string KeyService::install(const std::string& label, const std::string& base64,
                                const Vetting& vet) {
  if (base64.empty()) return "error: key install needs a label and a certificate";
  // The PEM text travels base64-encoded on the admin line; what decodes to no certificate is
  // refused below, whatever it was.
  auto certs = x509::load_certificates(mime::decode_base64(base64));
  if (!certs || certs->empty()) return "error: that is not a certificate";
  {
    // The certificate must belong to the key, or every signature would fail verification.
    auto token = token_access();
    if (!token) return error(token.error());
    auto key = token->hsm().private_key(label);
    if (!key) return error(key.error());
    if (X509_check_private_key(certs->front().get(), *key) != 1)
      return "error: the certificate is not for key " + label;
  }
  if (auto refused = vet(certs->front().get()); !refused.empty()) return "error: " + refused;
  auto session = pkcs11::TokenSession::open(settings_.hsm);
  if (!session) return error(session.error());
  if (auto i = (*session)->import_certificate(label, certs->front().get()); !i)
    return error(i.error());
  drop_handle();
  log::notice("hsm: certificate {} installed for key {}", x509::subject_text(certs->front().get()),
              label);
  return "ok certificate installed for " + label;
}

// The key must be in the token with a certificate we may sign with, and the choice is on disk
// before it is used.
std::string KeyService::switch_to(const std::string& label, const Vetting& vet) {
  auto token = token_access();
  if (!token) return error(token.error());
  if (auto key = token->hsm().private_key(label); !key) return error(key.error());
  auto cert = token->hsm().certificate(label);
  if (!cert) return "error: key " + label + " has no certificate yet: key install it first";
  if (auto refused = vet(cert->get()); !refused.empty()) return "error: " + refused;
  std::error_code ec;
  std::filesystem::create_directories(settings_.choice.parent_path(), ec);
  if (auto w = write_file_atomically(settings_.choice, label + "\n"); !w)
    return "error: the choice could not be kept in " + settings_.choice.string() + ": " +
           w.error().message;
  std::string previous;
  {
    std::lock_guard lock(mutex_);
    previous = std::exchange(label_, label);
    handle_.reset();  // the next check opens the token with the new key
  }
  log::notice("hsm: key {} signs from now on ({}); {} still decrypts until it is retired", label,
              x509::subject_text(cert->get()), previous);
  if (previous == label) return "ok key " + label + " already signs";
  return fmt::format(
      "ok key {} signs from now on; {} still decrypts mail in transit until 'key retire {}'", label,
      previous, previous);
}

std::string KeyService::retire(const std::string& label) {
  auto session = pkcs11::TokenSession::open(settings_.hsm);
  if (!session) return error(session.error());
  auto n = (*session)->destroy_objects(label);
  if (!n) return error(n.error());
  if (*n == 0) return "error: no key labelled " + label;
  drop_handle();
  log::warning("hsm: key {} retired ({} objects destroyed){}", label, *n,
               label == this->label() ? "; secure mail waits until a new key and "
                                        "certificate are installed"
                                      : "");
  return fmt::format("ok key {} retired ({} objects destroyed)", label, *n);
}

}  // namespace seegw::keys
