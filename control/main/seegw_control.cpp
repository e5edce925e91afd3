// seegw-control: the control process's directory work (rules DIR-1, DIR-2) from the command line
// until the daemon and its admin API exist: list the agencies the directory holds, discover and
// validate a domain's certificate, and write the policy snapshot the data plane loads.
//
//   seegw-control --config FILE directory agencies
//   seegw-control --config FILE directory discover DOMAIN
//   seegw-control --config FILE crl refresh CERTIFICATE.pem...
//   seegw-control --config FILE snapshot --out FILE
//
// Exit status: 0 ok; 1 the directory is unreachable (the last snapshot stays as it is);
// 2 usage or configuration error; 3 the directory answered with an error.
#include <fmt/format.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <toml++/toml.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "seegw/common/file.hpp"
#include "seegw/directory/directory.hpp"
#include "seegw/revocation/crl.hpp"
#include "seegw/x509/validation.hpp"

namespace fs = std::filesystem;
using namespace seegw;

namespace {

struct ControlConfig {
  directory::DirectoryConfig directory;
  std::vector<directory::DiscoverySpec> discovery;  // one per trusted CA's directory
  std::vector<std::string> trusted_roots;           // the S.E.E. Manager list
  std::vector<std::string> crls;
  std::string snapshot_extra;  // TOML copied into the snapshot (trusted lists, rulesets)
  std::string crl_cache;       // "": beside the snapshot (crls/)
  std::chrono::seconds crl_timeout{10};
};

void usage() {
  std::fputs(
      "usage: seegw-control --config FILE directory agencies\n"
      "       seegw-control --config FILE directory discover DOMAIN\n"
      "       seegw-control --config FILE crl refresh CERTIFICATE.pem...\n"
      "       seegw-control --config FILE snapshot --out FILE\n"
      "Exit status: 0 ok, 1 directory unreachable, 2 usage or configuration error,\n"
      "3 the directory answered with an error.\n",
      stderr);
}

int status_of(const Error& e) {
  std::fprintf(stderr, "seegw-control: %s\n", e.message.c_str());
  return e.code == Errc::unavailable ? 1 : e.code == Errc::protocol ? 3 : 2;
}

Result<ControlConfig> load_config(const std::string& path) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  toml::table t;
  try {
    t = toml::parse(*text);
  } catch (const toml::parse_error& e) {
    return fail(Errc::config,
                fmt::format("{} line {}: {}", path, e.source().begin.line, e.description()));
  }
  ControlConfig c;
  auto& d = c.directory;
  d.uri = t["directory"]["uri"].value_or(std::string());
  d.start_tls = t["directory"]["start_tls"].value_or(true);
  d.ca_file = t["directory"]["ca_file"].value_or(std::string());
  d.bind_dn = t["directory"]["bind_dn"].value_or(std::string());
  d.password_file = t["directory"]["password_file"].value_or(std::string());
  d.timeout = std::chrono::seconds(t["directory"]["timeout"].value_or(int64_t{10}));
  d.seemail_base = t["directory"]["seemail_base"].value_or(d.seemail_base);
  d.vendor_base = t["directory"]["vendor_base"].value_or(d.vendor_base);
  if (auto* specs = t["discovery"].as_array()) {
    for (auto& node : *specs) {
      auto* e = node.as_table();
      if (!e) return fail(Errc::config, "[[discovery]] entries must be tables");
      directory::DiscoverySpec s;
      s.base = (*e)["base"].value_or(s.base);
      s.filter_template = (*e)["filter"].value_or(s.filter_template);
      s.attribute = (*e)["attribute"].value_or(s.attribute);
      if (s.filter_template.find("{domain}") == std::string::npos)
        return fail(Errc::config, "[[discovery]] filter must contain {domain}");
      c.discovery.push_back(std::move(s));
    }
  }
  if (c.discovery.empty()) c.discovery.emplace_back();
  auto strings = [&](const char* key) {
    std::vector<std::string> out;
    if (auto* arr = t["snapshot"][key].as_array())
      for (auto& v : *arr)
        if (auto s = v.value<std::string>()) out.push_back(*s);
    return out;
  };
  c.trusted_roots = strings("trusted_roots");
  c.crls = strings("crls");
  c.snapshot_extra = t["snapshot"]["extra"].value_or(std::string());
  c.crl_cache = t["crl"]["cache_dir"].value_or(c.crl_cache);
  c.crl_timeout = std::chrono::seconds(t["crl"]["timeout"].value_or(int64_t{10}));
  return c;
}

struct Verdict {
  x509::Certificate certificate;
  x509::Validation validation;
};

// DIR-2: every certificate any trusted CA's directory holds for the domain, each validated;
// the first valid one wins, otherwise the first found (its state tells the data plane why not).
Result<std::vector<Verdict>> discover(directory::Directory& dir, const ControlConfig& c,
                                      const std::string& domain) {
  std::vector<x509::Certificate> roots;
  for (const auto& r : c.trusted_roots) {
    auto cert = x509::load_certificate_file(r);
    if (!cert) return std::unexpected(cert.error());
    roots.push_back(std::move(*cert));
  }
  std::vector<x509::Crl> crls;
  for (const auto& p : c.crls)
    if (auto crl = x509::load_crl_file(p)) crls.push_back(std::move(*crl));
  std::vector<Verdict> out;
  for (const auto& spec : c.discovery) {
    auto found = dir.discover(spec, domain);
    if (!found) return std::unexpected(found.error());
    for (auto& cert : *found) {
      x509::ValidationInput in;
      in.certificate = cert.get();
      for (auto& r : roots) in.trusted_roots.push_back(r.get());
      for (auto& l : crls) in.crls.push_back(l.get());
      in.now = std::time(nullptr);
      in.sender_domain = domain;
      in.role = x509::Role::confidentiality;
      out.push_back({std::move(cert), x509::validate(in)});
    }
  }
  std::stable_partition(out.begin(), out.end(), [](const Verdict& v) {
    return v.validation.state == x509::CertificateState::valid;
  });
  return out;
}

// DIR-4: the CRLs of a certificate's distribution points, fetched or cached, each checked against
// the certificate's issuer among the trusted roots.
std::vector<revocation::Refreshed> refresh_crls(const ControlConfig& c, X509* certificate,
                                                const fs::path& cache) {
  for (const auto& r : c.trusted_roots) {
    auto root = x509::load_certificate_file(r);
    if (root && X509_check_issued(root->get(), certificate) == X509_V_OK)
      return revocation::refresh(certificate, root->get(), cache, std::time(nullptr),
                                 c.crl_timeout);
  }
  return {};
}

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(ch) >= 0x20) out.push_back(ch);
  }
  return out + "\"";
}

int snapshot(const ControlConfig& c, const fs::path& out) {
  auto dir = directory::Directory::connect(c.directory);
  if (!dir) return status_of(dir.error());
  auto agencies = (*dir)->agencies();
  if (!agencies) return status_of(agencies.error());
  const fs::path certs = out.parent_path() / "certs";
  std::error_code ec;
  fs::create_directories(certs, ec);
  std::string text = fmt::format(
      "# Written by seegw-control from {} at {}; do not edit (it is replaced whole).\n"
      "version = {}\n",
      c.directory.uri, std::time(nullptr), std::time(nullptr));
  text += "trusted_roots = [";
  for (std::size_t i = 0; i < c.trusted_roots.size(); ++i)
    text += (i ? ", " : "") + toml_string(fs::absolute(c.trusted_roots[i]).string());
  std::vector<std::string> crls;
  for (const auto& p : c.crls) crls.push_back(fs::absolute(p).string());
  std::string entries;
  for (const auto& a : *agencies) {
    entries +=
        fmt::format("[[agency]]\ndomain = {}\nname = {}\ncommunity = \"{}\"\n",
                    toml_string(a.domain), toml_string(a.name),
                    a.community == directory::Community::restricted ? "restricted" : "standard");
    auto found = discover(**dir, c, a.domain);
    if (!found) return status_of(found.error());
    if (!found->empty()) {
      const fs::path file = certs / (a.domain + ".pem");
      if (auto w = write_file_atomically(file, x509::to_pem(found->front().certificate.get())); !w)
        return status_of(w.error());
      entries += fmt::format("certificate = {}\n", toml_string(file.string()));
      const fs::path cache =
          c.crl_cache.empty() ? out.parent_path() / "crls" : fs::path(c.crl_cache);
      for (const auto& r : refresh_crls(c, found->front().certificate.get(), cache)) {
        if (r.usable)
          crls.push_back(fs::absolute(r.file).string());
        else
          std::fprintf(stderr, "seegw-control: %s: CRL %s: %s\n", a.domain.c_str(), r.uri.c_str(),
                       r.status.c_str());
      }
    }
    entries += "\n";
  }
  std::sort(crls.begin(), crls.end());
  crls.erase(std::unique(crls.begin(), crls.end()), crls.end());
  text += "]\ncrls = [";
  for (std::size_t i = 0; i < crls.size(); ++i) text += (i ? ", " : "") + toml_string(crls[i]);
  text += "]\n" + c.snapshot_extra + "\n" + entries;
  if (auto w = write_file_atomically(out, text); !w) return status_of(w.error());
  std::printf("snapshot %s: %zu agencies\n", out.c_str(), agencies->size());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 3 || args[0] != "--config") return usage(), 2;
  auto config = load_config(args[1]);
  if (!config) return status_of(config.error());
  args.erase(args.begin(), args.begin() + 2);
  if (args.size() == 3 && args[0] == "snapshot" && args[1] == "--out")
    return snapshot(*config, args[2]);
  if (args.size() >= 3 && args[0] == "crl" && args[1] == "refresh") {
    if (config->crl_cache.empty())
      return status_of(Error{Errc::config, "[crl] cache_dir is not set"});
    int status = 0;
    for (std::size_t i = 2; i < args.size(); ++i) {
      auto cert = x509::load_certificate_file(args[i]);
      if (!cert) {
        status = std::max(status, status_of(cert.error()));
        continue;
      }
      auto results = refresh_crls(*config, cert->get(), config->crl_cache);
      if (results.empty())
        std::printf("%s: no CRL distribution point, or no trusted issuer\n", args[i].c_str());
      for (const auto& r : results) {
        std::printf("%s: %s: %s\n", args[i].c_str(), r.uri.c_str(), r.status.c_str());
        if (!r.usable) status = std::max(status, 1);
      }
    }
    return status;
  }
  if (args.size() < 2 || args[0] != "directory") return usage(), 2;
  auto dir = directory::Directory::connect(config->directory);
  if (!dir) return status_of(dir.error());
  if (args.size() == 2 && args[1] == "agencies") {
    auto agencies = (*dir)->agencies();
    if (!agencies) return status_of(agencies.error());
    for (const auto& a : *agencies)
      std::printf("%-32s %-8s %-10s %s\n", a.domain.c_str(),
                  a.list == directory::List::seemail ? "SEEMAIL" : "VENDOR",
                  a.community == directory::Community::restricted ? "Restricted" : "Standard",
                  a.name.c_str());
    return 0;
  }
  if (args.size() == 3 && args[1] == "discover") {
    auto found = discover(**dir, *config, args[2]);
    if (!found) return status_of(found.error());
    if (found->empty()) {
      std::printf("no certificate for %s\n", args[2].c_str());
      return 0;
    }
    for (const auto& v : *found)
      std::printf("%s: %s%s%s\n", x509::subject_text(v.certificate.get()).c_str(),
                  std::string(x509::state_name(v.validation.state)).c_str(),
                  v.validation.detail.empty() ? "" : " - ", v.validation.detail.c_str());
    return 0;
  }
  usage();
  return 2;
}
