// seegw-hsm: the administrator's key management on the gateway's HSM token (OPS-5): generate a
// key pair inside the token, make a CSR signed by it, import the issued certificate, retire a
// key, list keys with the attributes that prove they cannot leave the token.
// Trusts: its command line and the PIN file (owner-only). Never prints the PIN.
#include <cstdio>
#include <fstream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/cms/smime.hpp"
#include "seegw/common/file.hpp"
#include "seegw/pkcs11/hsm.hpp"

namespace {

int usage() {
  std::fputs(
      "usage: seegw-hsm --module SO --token LABEL --pin-file FILE COMMAND\n"
      "  keygen --label L [--type rsa:2048|rsa:3072|rsa:4096|ec:P-256|ec:P-384]\n"
      "  csr --label L [--cn NAME] --email ADDRESS [--email ADDRESS...]   (PEM on stdout)\n"
      "  import-cert --label L CERT.pem\n"
      "  retire --label L          (destroys the key pair and certificate: compromise recovery)\n"
      "  list\n"
      "  protect --label L --recipient CERT.pem [--recipient ...] [--cipher "
      "aes256-gcm|aes256-cbc|\n"
      "          aes192-cbc|aes128-cbc|des3] [--oaep] [--digest SHA256] [--privacy-mark TEXT] IN "
      "OUT\n"
      "  unprotect --label L [--known CERT.pem] IN OUT   (signer and state on stderr)\n",
      stderr);
  return 2;
}

int report(const seegw::Error& e) {
  std::fprintf(stderr, "seegw-hsm: %s\n", e.message.c_str());
  return 1;
}

using namespace seegw;

struct Options {
  pkcs11::HsmConfig hsm;
  std::string command, label, type = "rsa:2048", cn = "domain-confidentiality-authority";
  std::vector<std::string> emails, recipients, known, files, chain_files;
  std::string cipher = "aes256-cbc", digest = "SHA256", privacy_mark;
  bool oaep = false;
};

// The command line, read by a table of options; nullopt for anything it does not know.
std::optional<Options> parse_options(const std::vector<std::string>& args) {
  Options o;
  using Set = void (*)(Options&, const std::string&);
  static const std::map<std::string_view, Set> kWithValue = {
      {"--module", [](Options& o, const std::string& v) { o.hsm.module_path = v; }},
      {"--token", [](Options& o, const std::string& v) { o.hsm.token_label = v; }},
      {"--pin-file", [](Options& o, const std::string& v) { o.hsm.pin_file = v; }},
      {"--label", [](Options& o, const std::string& v) { o.label = v; }},
      {"--type", [](Options& o, const std::string& v) { o.type = v; }},
      {"--cn", [](Options& o, const std::string& v) { o.cn = v; }},
      {"--email", [](Options& o, const std::string& v) { o.emails.push_back(v); }},
      {"--recipient", [](Options& o, const std::string& v) { o.recipients.push_back(v); }},
      {"--known", [](Options& o, const std::string& v) { o.known.push_back(v); }},
      {"--chain", [](Options& o, const std::string& v) { o.chain_files.push_back(v); }},
      {"--cipher", [](Options& o, const std::string& v) { o.cipher = v; }},
      {"--digest", [](Options& o, const std::string& v) { o.digest = v; }},
      {"--privacy-mark", [](Options& o, const std::string& v) { o.privacy_mark = v; }},
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (auto it = kWithValue.find(a); it != kWithValue.end()) {
      if (i + 1 >= args.size()) return std::nullopt;
      it->second(o, args[++i]);
    } else if (a == "--oaep") {
      o.oaep = true;
    } else if (a.starts_with("-")) {
      return std::nullopt;
    } else if (o.command.empty()) {
      o.command = a;
    } else {
      o.files.push_back(a);
    }
  }
  if (o.command.empty() || o.hsm.token_label.empty() || o.hsm.pin_file.empty()) return std::nullopt;
  if (o.command != "list" && o.label.empty()) return std::nullopt;
  return o;
}

// Certificates from files, kept alive in `owned`; the raw pointers for OpenSSL in `out`.
std::optional<Error> load_all(const std::vector<std::string>& files,
                              std::vector<x509::Certificate>& owned, std::vector<X509*>& out) {
  for (const auto& f : files) {
    auto c = x509::load_certificate_file(f);
    if (!c) return c.error();
    out.push_back(c->get());
    owned.push_back(std::move(*c));
  }
  return std::nullopt;
}

int write_output(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary);
  out << bytes;
  return out ? 0 : report({Errc::io, "cannot write " + path});
}

int protect(const Options& o, EVP_PKEY* key, X509* cert, const std::string& input) {
  std::vector<x509::Certificate> owned;
  std::vector<X509*> recipients, chain;
  if (auto e = load_all(o.recipients, owned, recipients)) return report(*e);
  if (auto e = load_all(o.chain_files, owned, chain)) return report(*e);
  cms::Protection p;
  p.rsa_oaep = o.oaep;
  p.digest = o.digest;
  auto cipher = cms::cipher_from_name(o.cipher);
  if (!cipher) return usage();
  p.cipher = *cipher;
  if (!o.privacy_mark.empty())
    p.label = cms::SecurityLabel{"2.16.554.101.8.1.1", 3, o.privacy_mark};
  auto protected_message = cms::protect(input, cms::Signer{key, cert, chain}, recipients, p);
  if (!protected_message) return report(protected_message.error());
  return write_output(o.files[1], *protected_message);
}

int unprotect(const Options& o, EVP_PKEY* key, X509* cert, const std::string& input) {
  std::vector<x509::Certificate> owned;
  std::vector<X509*> known;
  if (auto e = load_all(o.known, owned, known)) return report(*e);
  auto u = cms::unprotect(input, key, cert, known);
  if (!u) return report(u.error());
  if (!u->was_encrypted && !u->was_signed)
    return report({Errc::not_found,
                   "no domain layer: not encrypted to this key, not signed by a domain "
                   "authority (an individual's S/MIME is left as it is)"});
  std::fprintf(stderr,
               "encrypted=%s signed=%s signature_valid=%s signer=%s certificates=%zu "
               "capabilities=%zu%s%s\n",
               u->was_encrypted ? "yes" : "no", u->was_signed ? "yes" : "no",
               u->signature_valid ? "yes" : "no",
               u->signer ? x509::subject_text(u->signer.get()).c_str() : "-",
               u->certificates.size(), u->capabilities.size(), u->label ? " label=" : "",
               u->label ? u->label->privacy_mark.c_str() : "");
  return write_output(o.files[1], u->message);
}

// protect and unprotect: the key and certificate through libp11, as the data plane uses them.
int cms_command(const Options& o) {
  if (o.files.size() != 2) return usage();
  auto input = read_file(o.files[0]);
  if (!input) return report(input.error());
  auto hsm = pkcs11::Hsm::open(o.hsm);
  if (!hsm) return report(hsm.error());
  auto key = (*hsm)->private_key(o.label);
  if (!key) return report(key.error());
  auto cert = (*hsm)->certificate(o.label);
  if (!cert) return report(cert.error());
  return o.command == "protect" ? protect(o, *key, cert->get(), *input)
                                : unprotect(o, *key, cert->get(), *input);
}

int csr(const Options& o) {
  auto hsm = pkcs11::Hsm::open(o.hsm);
  if (!hsm) return report(hsm.error());
  auto key = (*hsm)->private_key(o.label);
  if (!key) return report(key.error());
  auto request = pkcs11::make_csr(*key, o.cn, o.emails);
  if (!request) return report(request.error());
  std::fputs(request->c_str(), stdout);
  return 0;
}

// The commands that manage the token's objects, on a raw PKCS#11 session.
int keygen(const Options& o, pkcs11::TokenSession& token) {
  auto t = pkcs11::parse_key_type(o.type);
  if (!t) return report(t.error());
  if (auto r = token.generate_key_pair(o.label, *t); !r) return report(r.error());
  std::printf("generated %s key pair '%s' inside the token\n", o.type.c_str(), o.label.c_str());
  return 0;
}

int import_cert(const Options& o, pkcs11::TokenSession& token) {
  if (o.files.size() != 1) return usage();
  auto cert = x509::load_certificate_file(o.files[0]);
  if (!cert) return report(cert.error());
  if (auto r = token.import_certificate(o.label, cert->get()); !r) return report(r.error());
  std::printf("imported %s as '%s'\n", x509::subject_text(cert->get()).c_str(), o.label.c_str());
  return 0;
}

int retire(const Options& o, pkcs11::TokenSession& token) {
  auto n = token.destroy_objects(o.label);
  if (!n) return report(n.error());
  std::printf("destroyed %zu objects labelled '%s'\n", *n, o.label.c_str());
  return *n > 0 ? 0 : 1;
}

int list(const Options&, pkcs11::TokenSession& token) {
  auto keys = token.private_keys();
  if (!keys) return report(keys.error());
  auto yn = [](bool b) { return b ? "yes" : "no"; };
  for (const auto& k : *keys)
    std::printf(
        "label=%s type=%s sensitive=%s extractable=%s always_sensitive=%s never_extractable=%s "
        "private_value_readable=%s\n",
        k.label.c_str(), k.type.c_str(), yn(k.sensitive), yn(k.extractable), yn(k.always_sensitive),
        yn(k.never_extractable), yn(k.value_readable));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  auto o = parse_options(std::vector<std::string>(argv + 1, argv + argc));
  if (!o) return usage();
  using WithKey = int (*)(const Options&);
  using WithToken = int (*)(const Options&, pkcs11::TokenSession&);
  static const std::map<std::string_view, WithKey> kWithKey = {
      {"protect", cms_command}, {"unprotect", cms_command}, {"csr", csr}};
  static const std::map<std::string_view, WithToken> kWithToken = {
      {"keygen", keygen}, {"import-cert", import_cert}, {"retire", retire}, {"list", list}};
  if (auto it = kWithKey.find(o->command); it != kWithKey.end()) return it->second(*o);
  auto it = kWithToken.find(o->command);
  if (it == kWithToken.end()) return usage();
  auto token = pkcs11::TokenSession::open(o->hsm);
  if (!token) return report(token.error());
  return it->second(*o, **token);
}
