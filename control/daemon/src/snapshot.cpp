#include "seegw/daemon/snapshot.hpp"

#include <openssl/x509v3.h>

#include <fmt/format.h>

#include <algorithm>
#include <ctime>
#include <set>
#include <tuple>

#include "seegw/common/file.hpp"
#include "seegw/revocation/crl.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;

namespace {

std::string toml_string(std::string_view s) {
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"' || ch == '\\') out.push_back('\\');
    if (static_cast<unsigned char>(ch) >= 0x20) out.push_back(ch);
  }
  return out + "\"";
}

std::string field(std::string_view s) {
  std::string out;
  for (char ch : s) out.push_back(ch == '\t' || ch == '\n' || ch == '\r' ? ' ' : ch);
  return out;
}

Result<std::vector<x509::Certificate>> load_roots(const ControlConfig& c) {
  std::vector<x509::Certificate> roots;
  for (const auto& r : c.trusted_roots) {
    auto cert = x509::load_certificate_file(r);
    if (!cert) return std::unexpected(cert.error());
    roots.push_back(std::move(*cert));
  }
  return roots;
}

bool same_certificate(const fs::path& file, X509* cert) {
  auto other = x509::load_certificate_file(file.string());
  return other && X509_cmp(other->get(), cert) == 0;
}

std::vector<fs::path> files_in(const fs::path& dir, std::string_view extension) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.path().extension() == extension) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

Result<std::vector<Verdict>> discover(directory::Directory& dir, const ControlConfig& c,
                                      const std::string& domain) {
  auto roots = load_roots(c);
  if (!roots) return std::unexpected(roots.error());
  std::vector<x509::Crl> crls;
  for (const auto& p : c.crls)
    if (auto crl = x509::load_crl_file(p)) crls.push_back(std::move(*crl));
  for (const auto& p : files_in(c.crl_cache_dir(), ".crl"))
    if (auto crl = x509::load_crl_file(p.string())) crls.push_back(std::move(*crl));
  std::vector<Verdict> out;
  for (const auto& spec : c.discovery) {
    auto found = dir.discover(spec, domain);
    if (!found) return std::unexpected(found.error());
    for (auto& cert : *found) {
      x509::ValidationInput in;
      in.certificate = cert.get();
      for (auto& r : *roots) in.trusted_roots.push_back(r.get());
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

Result<FetchReport> fetch_directory(const ControlConfig& c, const ControlStore& store,
                                    const Progress& progress) {
  auto dir = directory::Directory::connect(c.directory);
  if (!dir) return std::unexpected(dir.error());
  auto agencies = (*dir)->agencies();
  if (!agencies) return std::unexpected(agencies.error());
  FetchReport report;
  report.agencies = agencies->size();
  // Everything is asked first and written after: a directory that fails half way changes nothing.
  std::vector<std::tuple<std::string, std::string, bool>> certificates;  // domain, PEM, valid
  for (std::size_t i = 0; i < agencies->size(); ++i) {
    const auto& a = (*agencies)[i];
    if (progress) progress(i, agencies->size(), "discovering " + a.domain);
    auto found = discover(**dir, c, a.domain);
    if (!found) return std::unexpected(found.error());
    if (found->empty()) continue;
    const auto& best = found->front();
    if (best.validation.state != x509::CertificateState::valid)
      report.notes.push_back(fmt::format("{}: {} ({})", a.domain,
                                         x509::state_name(best.validation.state),
                                         best.validation.detail));
    if (auto w = x509::missing_crl_distribution_point(best.certificate.get()); !w.empty())
      report.notes.push_back(fmt::format("{}: {}", a.domain, w));
    certificates.emplace_back(a.domain, x509::to_pem(best.certificate.get()),
                              best.validation.state == x509::CertificateState::valid);
  }
  if (progress) progress(agencies->size(), agencies->size(), "storing");
  std::string table;
  for (const auto& a : *agencies)
    table += fmt::format(
        "{}\t{}\t{}\t{}\n", field(a.domain),
        a.list == directory::List::seemail ? "SEEMAIL" : "VENDOR",
        a.community == directory::Community::restricted ? "restricted" : "standard", field(a.name));
  std::error_code ec;
  fs::create_directories(store.discovered(), ec);
  fs::create_directories(store.pending(), ec);
  std::set<std::string> kept;
  for (const auto& [domain, pem, valid] : certificates) {
    const fs::path file = store.discovered() / (domain + ".pem");
    kept.insert(file.filename().string());
    auto cert = x509::load_certificates(pem);
    if (!cert || cert->empty()) continue;
    // Not approved automatically: a valid certificate that is not the one in use waits in
    // pending/ for `certificate approve`, and the one in use (if any) stays until then. A state
    // that is not valid is always stored: the data plane must see that the agency's certificate
    // went bad.
    if (!c.auto_approve && valid && !same_certificate(file, cert->front().get())) {
      if (auto w = write_file_atomically(store.pending() / (domain + ".pem"), pem); !w)
        return std::unexpected(w.error());
      ++report.pending;
      continue;
    }
    if (auto w = write_file_atomically(file, pem); !w) return std::unexpected(w.error());
    ++report.certificates;
  }
  // An agency the directory no longer lists loses its discovered certificate too.
  for (const auto& f : files_in(store.discovered(), ".pem"))
    if (!kept.contains(f.filename().string())) fs::remove(f, ec);
  if (auto w = write_file_atomically(store.agencies(), table); !w)
    return std::unexpected(w.error());
  return report;
}

std::vector<StoredAgency> stored_agencies(const ControlStore& store) {
  std::vector<StoredAgency> out;
  auto text = read_file(store.agencies());
  if (!text) return out;
  std::size_t pos = 0;
  while (pos < text->size()) {
    auto nl = text->find('\n', pos);
    if (nl == std::string::npos) nl = text->size();
    std::string line = text->substr(pos, nl - pos);
    pos = nl + 1;
    std::vector<std::string> f;
    std::size_t start = 0;
    for (std::size_t tab; (tab = line.find('\t', start)) != std::string::npos; start = tab + 1)
      f.push_back(line.substr(start, tab - start));
    f.push_back(line.substr(start));
    if (f.size() == 4) out.push_back({f[0], f[1], f[2], f[3]});
  }
  return out;
}

std::optional<x509::Certificate> issuer_among_roots(const ControlConfig& c, X509* certificate) {
  for (const auto& r : c.trusted_roots) {
    auto root = x509::load_certificate_file(r);
    if (root && X509_check_issued(root->get(), certificate) == X509_V_OK) return std::move(*root);
  }
  return std::nullopt;
}

std::vector<CrlState> refresh_crls(const ControlConfig& c, X509* certificate) {
  std::vector<CrlState> out;
  auto issuer = issuer_among_roots(c, certificate);
  if (!issuer) return out;
  for (auto& f : revocation::refresh(certificate, issuer->get(), c.crl_cache_dir(),
                                     std::time(nullptr), c.crl_timeout))
    out.push_back({f.uri, f.status, f.file, f.usable});
  return out;
}

std::vector<OcspState> check_ocsp(const ControlConfig& c, X509* certificate) {
  std::vector<OcspState> out;
  auto issuer = issuer_among_roots(c, certificate);
  if (!issuer) return out;
  for (const auto& url : revocation::ocsp_responders(certificate)) {
    auto answer =
        revocation::query_ocsp(certificate, issuer->get(), url, c.crl_timeout, std::time(nullptr));
    if (!answer)
      out.push_back({url, answer.error().message, false, false});
    else
      out.push_back({url, answer->detail, answer->status != revocation::OcspStatus::unknown,
                     answer->status == revocation::OcspStatus::revoked});
    if (out.back().usable) break;  // one responder's signed answer is enough
  }
  return out;
}

Result<ComposeReport> compose_snapshot(const ControlConfig& c, const ControlStore& store,
                                       std::uint64_t version, const Progress& progress) {
  const fs::path out = c.snapshot_file();
  const fs::path certs = out.parent_path() / "certs";
  std::error_code ec;
  fs::create_directories(certs, ec);
  if (ec) return fail(Errc::io, fmt::format("create {}: {}", certs.string(), ec.message()));
  ComposeReport report;
  report.version = version;
  const auto agencies = stored_agencies(store);
  for (const auto& a : agencies) (a.list == "VENDOR" ? report.vendors : report.agencies) += 1;

  // `generated` is what the data plane measures the snapshot's age by ([policy] max_age).
  const std::time_t generated = std::time(nullptr);
  std::string text = fmt::format(
      "# Written by seegw-control; do not edit (it is replaced whole).\nversion = {}\n"
      "generated = {}\n",
      version, generated);
  text += "trusted_roots = [";
  for (std::size_t i = 0; i < c.trusted_roots.size(); ++i)
    text += (i ? ", " : "") + toml_string(c.trusted_roots[i]);
  std::vector<std::string> crls(c.crls.begin(), c.crls.end());

  // The certificate used for each agency: the administrator's import, else the directory's.
  std::string entries;
  for (std::size_t i = 0; i < agencies.size(); ++i) {
    const auto& a = agencies[i];
    if (progress) progress(i, agencies.size(), "CRLs of " + a.domain);
    // DIR-1: the VENDOR list (suppliers, candidates) is not the SEEMAIL list; its entries are
    // [[vendor]]: secure unclassified mail and ping answers, never classified mail.
    if (a.list == "VENDOR")
      entries += fmt::format("[[vendor]]\ndomain = {}\nname = {}\n", toml_string(a.domain),
                             toml_string(a.name));
    else
      entries += fmt::format("[[agency]]\ndomain = {}\nname = {}\ncommunity = \"{}\"\n",
                             toml_string(a.domain), toml_string(a.name), a.community);
    fs::path source = store.imported() / (a.domain + ".pem");
    if (!fs::exists(source, ec)) source = store.discovered() / (a.domain + ".pem");
    if (auto cert = x509::load_certificate_file(source.string())) {
      const fs::path file = certs / (a.domain + ".pem");
      if (auto w = write_file_atomically(file, x509::to_pem(cert->get())); !w)
        return std::unexpected(w.error());
      entries += fmt::format("certificate = {}\n", toml_string(file.string()));
      ++report.certificates;
      // OCSP beside the CRLs: a signed "revoked" or "good" goes into the snapshot for the
      // data plane; an unusable answer changes nothing (the CRLs decide, or the soft path).
      for (const auto& o : check_ocsp(c, cert->get())) {
        if (o.usable)
          entries += fmt::format("ocsp = \"{}\"\n", o.revoked ? "revoked" : "good");
        else
          report.crl_problems.push_back(fmt::format("{}: OCSP {}", a.domain, o.status));
      }
      for (const auto& r : refresh_crls(c, cert->get())) {
        if (r.usable)
          crls.push_back(fs::absolute(r.file).string());
        else
          report.crl_problems.push_back(fmt::format("{}: CRL {}: {}", a.domain, r.uri, r.status));
      }
    }
    entries += "\n";
  }
  // The TRUSTED list: <match>.pem with the certificate to use, <match>.none without one.
  for (const auto& f : files_in(store.trusted(), ".pem")) {
    entries += fmt::format("[[trusted]]\nmatch = {}\ncertificate = {}\n\n",
                           toml_string(f.stem().string()), toml_string(f.string()));
    ++report.trusted;
  }
  for (const auto& f : files_in(store.trusted(), ".none")) {
    entries += fmt::format("[[trusted]]\nmatch = {}\n\n", toml_string(f.stem().string()));
    ++report.trusted;
  }
  std::sort(crls.begin(), crls.end());
  crls.erase(std::unique(crls.begin(), crls.end()), crls.end());
  text += "]\ncrls = [";
  for (std::size_t i = 0; i < crls.size(); ++i) text += (i ? ", " : "") + toml_string(crls[i]);
  text += "]\n" + c.snapshot_extra + "\n" + entries;
  if (progress) progress(agencies.size(), agencies.size(), "writing the snapshot");
  if (auto w = write_file_atomically(out, text); !w) return std::unexpected(w.error());
  return report;
}

}  // namespace seegw::daemon
