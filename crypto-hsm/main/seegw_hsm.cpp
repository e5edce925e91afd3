// seegw-hsm: the administrator's key management on the gateway's HSM token (OPS-5): generate a
// key pair inside the token, make a CSR signed by it, import the issued certificate, retire a
// key, list keys with the attributes that prove they cannot leave the token.
// Trusts: its command line and the PIN file (owner-only). Never prints the PIN.
#include <cstdio>
#include <fstream>
#include <string>
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

}  // namespace

int main(int argc, char** argv) {
  using namespace seegw;
  pkcs11::HsmConfig config;
  std::vector<std::string> args(argv + 1, argv + argc);
  std::string command, label, type = "rsa:2048", cn = "domain-confidentiality-authority", file;
  std::vector<std::string> emails, recipients, known, files, chain_files;
  std::string cipher = "aes256-cbc", digest = "SHA256", privacy_mark;
  bool oaep = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string { return i + 1 < args.size() ? args[++i] : std::string(); };
    if (a == "--module")
      config.module_path = value();
    else if (a == "--token")
      config.token_label = value();
    else if (a == "--pin-file")
      config.pin_file = value();
    else if (a == "--label")
      label = value();
    else if (a == "--type")
      type = value();
    else if (a == "--cn")
      cn = value();
    else if (a == "--email")
      emails.push_back(value());
    else if (a == "--recipient")
      recipients.push_back(value());
    else if (a == "--known")
      known.push_back(value());
    else if (a == "--chain")
      chain_files.push_back(value());
    else if (a == "--cipher")
      cipher = value();
    else if (a == "--digest")
      digest = value();
    else if (a == "--privacy-mark")
      privacy_mark = value();
    else if (a == "--oaep")
      oaep = true;
    else if (command.empty() && !a.starts_with("-"))
      command = a;
    else if (!a.starts_with("-"))
      files.push_back(file = a);
    else
      return usage();
  }
  if (command.empty() || config.token_label.empty() || config.pin_file.empty()) return usage();
  if (command != "list" && label.empty()) return usage();

  if (command == "protect" || command == "unprotect") {
    if (files.size() != 2) return usage();
    auto input = read_file(files[0]);
    if (!input) return report(input.error());
    auto hsm = pkcs11::Hsm::open(config);
    if (!hsm) return report(hsm.error());
    auto key = (*hsm)->private_key(label);
    if (!key) return report(key.error());
    auto cert = (*hsm)->certificate(label);
    if (!cert) return report(cert.error());
    std::string output;
    if (command == "protect") {
      std::vector<x509::Certificate> owned;
      std::vector<X509*> recips;
      for (const auto& r : recipients) {
        auto c = x509::load_certificate_file(r);
        if (!c) return report(c.error());
        recips.push_back(c->get());
        owned.push_back(std::move(*c));
      }
      std::vector<X509*> chain;
      for (const auto& cf : chain_files) {
        auto c = x509::load_certificate_file(cf);
        if (!c) return report(c.error());
        chain.push_back(c->get());
        owned.push_back(std::move(*c));
      }
      cms::Protection p;
      p.rsa_oaep = oaep;
      p.digest = digest;
      const std::pair<const char*, cms::Cipher> names[] = {
          {"aes256-gcm", cms::Cipher::aes256_gcm}, {"aes256-cbc", cms::Cipher::aes256_cbc},
          {"aes192-cbc", cms::Cipher::aes192_cbc}, {"aes128-gcm", cms::Cipher::aes128_gcm},
          {"aes128-cbc", cms::Cipher::aes128_cbc}, {"des3", cms::Cipher::des3_cbc}};
      bool found = false;
      for (auto& [n, c] : names)
        if (cipher == n) p.cipher = c, found = true;
      if (!found) return usage();
      if (!privacy_mark.empty())
        p.label = cms::SecurityLabel{"2.16.554.101.8.1.1", 3, privacy_mark};
      auto protected_message =
          cms::protect(*input, cms::Signer{*key, cert->get(), chain}, recips, p);
      if (!protected_message) return report(protected_message.error());
      output = std::move(*protected_message);
    } else {
      std::vector<x509::Certificate> owned;
      std::vector<X509*> k;
      for (const auto& f : known) {
        auto c = x509::load_certificate_file(f);
        if (!c) return report(c.error());
        k.push_back(c->get());
        owned.push_back(std::move(*c));
      }
      auto u = cms::unprotect(*input, *key, cert->get(), k);
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
      output = std::move(u->message);
    }
    std::ofstream out(files[1], std::ios::binary);
    out << output;
    return out ? 0 : report({Errc::io, "cannot write " + files[1]});
  }
  if (command == "csr") {
    auto hsm = pkcs11::Hsm::open(config);
    if (!hsm) return report(hsm.error());
    auto key = (*hsm)->private_key(label);
    if (!key) return report(key.error());
    auto csr = pkcs11::make_csr(*key, cn, emails);
    if (!csr) return report(csr.error());
    std::fputs(csr->c_str(), stdout);
    return 0;
  }
  auto token = pkcs11::TokenSession::open(config);
  if (!token) return report(token.error());
  if (command == "keygen") {
    auto t = pkcs11::parse_key_type(type);
    if (!t) return report(t.error());
    if (auto r = (*token)->generate_key_pair(label, *t); !r) return report(r.error());
    std::printf("generated %s key pair '%s' inside the token\n", type.c_str(), label.c_str());
    return 0;
  }
  if (command == "import-cert") {
    if (file.empty()) return usage();
    auto cert = x509::load_certificate_file(file);
    if (!cert) return report(cert.error());
    if (auto r = (*token)->import_certificate(label, cert->get()); !r) return report(r.error());
    std::printf("imported %s as '%s'\n", x509::subject_text(cert->get()).c_str(), label.c_str());
    return 0;
  }
  if (command == "retire") {
    auto n = (*token)->destroy_objects(label);
    if (!n) return report(n.error());
    std::printf("destroyed %zu objects labelled '%s'\n", *n, label.c_str());
    return *n > 0 ? 0 : 1;
  }
  if (command == "list") {
    auto keys = (*token)->private_keys();
    if (!keys) return report(keys.error());
    auto yn = [](bool b) { return b ? "yes" : "no"; };
    for (const auto& k : *keys)
      std::printf(
          "label=%s type=%s sensitive=%s extractable=%s always_sensitive=%s never_extractable=%s "
          "private_value_readable=%s\n",
          k.label.c_str(), k.type.c_str(), yn(k.sensitive), yn(k.extractable),
          yn(k.always_sensitive), yn(k.never_extractable), yn(k.value_readable));
    return 0;
  }
  return usage();
}
