#include "seegw/seemail/trust_state.hpp"

#include "seegw/config/toml_file.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>

#include <sys/stat.h>

#include <map>

#include "seegw/common/file.hpp"
#include "seegw/common/text.hpp"

namespace seegw::seemail {
namespace fs = std::filesystem;

policy::CertState to_cert_state(x509::CertificateState state) {
  using S = x509::CertificateState;
  switch (state) {
    case S::valid:
      return policy::CertState::valid;
    case S::revoked:
      return policy::CertState::revoked;
    case S::expired:
    case S::not_yet_valid:
      return policy::CertState::expired;
    case S::status_unknown:
      return policy::CertState::status_unknown;
    case S::unknown_ca:
    case S::self_signed:
    case S::bad_key_usage:
    case S::name_mismatch:  // a certificate that does not name the domain is no use for it
      return policy::CertState::unknown_ca;
  }
  return policy::CertState::unknown_ca;
}

x509::Validation TrustState::check(X509* certificate, const std::vector<X509*>& intermediates,
                                   std::string_view sender_domain, std::time_t now,
                                   std::optional<std::time_t> key_created) const {
  x509::ValidationInput in;
  in.certificate = certificate;
  in.intermediates = intermediates;
  for (const auto& r : roots) in.trusted_roots.push_back(r.get());
  for (const auto& c : crls) in.crls.push_back(c.get());
  in.now = now;
  in.sender_domain = std::string(sender_domain);
  in.role = x509::Role::either;
  in.key_created = key_created;
  return x509::validate(in);
}

X509* TrustState::certificate_for(std::string_view domain) const {
  auto it = certificates.find(std::string(domain));
  return it == certificates.end() ? nullptr : it->second.get();
}

namespace {

Result<x509::Certificate> load_one(const fs::path& base, const std::string& name) {
  fs::path p = fs::path(name).is_absolute() ? fs::path(name) : base / name;
  auto c = x509::load_certificate_file(p.string());
  if (!c)
    return fail(Errc::config, fmt::format("certificate {}: {}", p.string(), c.error().message));
  return c;
}

std::shared_ptr<TrustState> base_state(const std::string& our_domain,
                                       const std::vector<std::string>& local_domains) {
  auto s = std::make_shared<TrustState>();
  s->policy.our_domain = ascii_lower(our_domain);
  for (const auto& d : local_domains) s->policy.local_domains.insert(ascii_lower(d));
  s->policy.local_domains.insert(s->policy.our_domain);
  return s;
}

// Certificates learnt from mail (IN-4): one PEM per domain; a bad file is skipped, not fatal.
void add_learnt(TrustState& s, const LearntStore& learnt, std::time_t now) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(learnt.learnt(), ec)) {
    if (e.path().extension() != ".pem") continue;
    const std::string domain = ascii_lower(e.path().stem().string());
    auto cert = x509::load_certificate_file(e.path().string());
    if (!cert) continue;
    auto& current = s.policy.certificates[domain];
    const auto state = to_cert_state(s.check(cert->get(), {}, domain, now).state);
    // A learnt certificate replaces only one that cannot be used (a renewal, OUT-5).
    if (state == policy::CertState::valid && current.state != policy::CertState::valid) {
      current.renewal_found = current.state != policy::CertState::missing;
      current.state = policy::CertState::valid;
      s.certificates[domain] = std::move(*cert);
    }
  }
  for (const auto& e : fs::directory_iterator(learnt.capabilities(), ec)) {
    auto text = read_file(e.path());
    if (!text) continue;
    std::vector<std::string> oids;
    std::size_t pos = 0;
    while (pos < text->size()) {
      auto nl = text->find('\n', pos);
      if (nl == std::string::npos) nl = text->size();
      if (nl > pos) oids.push_back(text->substr(pos, nl - pos));
      pos = nl + 1;
    }
    s.capabilities.try_emplace(ascii_lower(e.path().filename().string()), std::move(oids));
  }
}

// A classification level by name ("restricted", ...) under `key`, when the snapshot sets one.
Result<void> read_level(const toml::table& t, const char* key, scan::Classification& out) {
  auto v = t[key].value<std::string>();
  if (!v) return {};
  auto level = scan::classification_from_name(*v);
  if (!level) return fail(Errc::config, fmt::format("{}: unknown level '{}'", key, *v));
  out = *level;
  return {};
}

// The entries of the array of tables `list`, each with its `key` field in lower case; an entry
// without one is an error.
Result<std::vector<std::pair<std::string, const toml::table*>>> entries(const toml::table& t,
                                                                        const char* list,
                                                                        const char* key,
                                                                        std::string_view missing) {
  std::vector<std::pair<std::string, const toml::table*>> out;
  const auto* array = t[list].as_array();
  if (!array) return out;
  for (const auto& node : *array) {
    const auto* e = node.as_table();
    auto value = e ? (*e)[key].value<std::string>() : std::nullopt;
    if (!value || value->empty()) return fail(Errc::config, std::string(missing));
    out.emplace_back(ascii_lower(*value), e);
  }
  return out;
}

// A listed peer's certificate, S/MIME capabilities and seegw-control's OCSP answer.
Result<void> read_peer(const toml::table& e, const std::string& key, const fs::path& base,
                       TrustState& s, std::map<std::string, std::string>& ocsp) {
  if (auto cert = e["certificate"].value<std::string>()) {
    auto c = load_one(base, *cert);
    if (!c) return std::unexpected(c.error());
    s.certificates[key] = std::move(*c);
  }
  if (auto* caps = e["capabilities"].as_array()) {
    auto& out = s.capabilities[key];
    for (auto& c : *caps)
      if (auto v = c.value<std::string>()) out.push_back(*v);
  }
  if (auto o = e["ocsp"].value<std::string>()) {
    if (*o != "good" && *o != "revoked")
      return fail(Errc::config, fmt::format("{}: ocsp must be good or revoked", key));
    ocsp[key] = *o;
  }
  return {};
}

// The SEEMAIL list ([[agency]]), the VENDOR list ([[vendor]], DIR-1: not agencies) and the
// TRUSTED list ([[trusted]]), each entry with its certificate.
Result<void> read_peer_lists(const toml::table& t, const fs::path& base, TrustState& s,
                             std::map<std::string, std::string>& ocsp) {
  auto& p = s.policy;
  auto agencies = entries(t, "agency", "domain", "[[agency]] needs a domain");
  if (!agencies) return std::unexpected(agencies.error());
  for (const auto& [d, e] : *agencies) {
    policy::Agency a;
    a.name = (*e)["name"].value_or(d);
    const std::string community = (*e)["community"].value_or(std::string("standard"));
    if (community == "restricted")
      a.community = policy::Community::restricted;
    else if (community != "standard")
      return fail(Errc::config,
                  fmt::format("agency {}: community must be standard or restricted, not '{}'", d,
                              community));
    p.seemail[d] = a;
    if (auto ok = read_peer(*e, d, base, s, ocsp); !ok) return ok;
  }
  auto vendors = entries(t, "vendor", "domain", "[[vendor]] needs a domain");
  if (!vendors) return std::unexpected(vendors.error());
  for (const auto& [d, e] : *vendors) {
    if (p.seemail.contains(d))
      return fail(Errc::config, fmt::format("{} is on both the SEEMAIL and the VENDOR list", d));
    p.vendors[d] = (*e)["name"].value_or(d);
    if (auto ok = read_peer(*e, d, base, s, ocsp); !ok) return ok;
  }
  auto trusted = entries(t, "trusted", "match", "[[trusted]] needs match = \"domain or address\"");
  if (!trusted) return std::unexpected(trusted.error());
  for (const auto& [m, e] : *trusted) {
    p.trusted.insert(m);
    if (auto ok = read_peer(*e, m, base, s, ocsp); !ok) return ok;
  }
  return {};
}

}  // namespace

std::shared_ptr<const TrustState> empty_trust_state(const std::string& our_domain,
                                                    const std::vector<std::string>& local_domains) {
  return base_state(our_domain, local_domains);
}

Result<std::shared_ptr<const TrustState>> load_trust_state(
    const fs::path& file, const std::string& our_domain,
    const std::vector<std::string>& local_domains, const LearntStore& learnt, std::time_t now) {
  auto parsed = config::parse_toml_file(file);
  if (!parsed) return std::unexpected(parsed.error());
  toml::table& t = *parsed;
  auto s = base_state(our_domain, local_domains);
  s->source = file;
  s->loaded_at = now;
  const fs::path base = file.parent_path();
  std::string problem;
  auto strings = [&](toml::node_view<toml::node> n, std::string_view key) {
    std::vector<std::string> out;
    if (!n) return out;
    auto* arr = n.as_array();
    if (!arr) {
      problem = fmt::format("{} must be a list of strings", key);
      return out;
    }
    for (auto& e : *arr) {
      if (auto v = e.value<std::string>())
        out.push_back(*v);
      else
        problem = fmt::format("{} must be a list of strings", key);
    }
    return out;
  };
  auto& p = s->policy;
  const auto version = t["version"].value<int64_t>();
  if (!version || *version < 1)
    return fail(
        Errc::config,
        fmt::format("{}: no 'version = N' (N ≥ 1): not a policy snapshot (empty or cut off?)",
                    file.string()));
  p.version = static_cast<std::uint64_t>(*version);
  if (auto g = t["generated"].value<int64_t>()) {
    s->generated = static_cast<std::time_t>(*g);
  } else {
    struct stat st {};
    s->generated = ::stat(file.c_str(), &st) == 0 ? st.st_mtime : now;
  }
  for (auto [key, level] : {std::pair{"uninspectable_as", &p.uninspectable_as},
                            std::pair{"individual_smime_as", &p.individual_smime_as}})
    if (auto ok = read_level(t, key, *level); !ok) return std::unexpected(ok.error());
  if (auto v = t["encrypt_when_possible"].value<bool>()) p.encrypt_when_possible = *v;
  if (auto v = t["sign_when_possible"].value<bool>()) p.sign_when_possible = *v;
  if (auto v = t["auto_approve_certificates"].value<bool>()) p.auto_approve_certificates = *v;
  for (auto& r : strings(t["trusted_roots"], "trusted_roots")) {
    auto c = load_one(base, r);
    if (!c) return std::unexpected(c.error());
    s->roots.push_back(std::move(*c));
  }
  for (auto& r : strings(t["crls"], "crls")) {
    fs::path path = fs::path(r).is_absolute() ? fs::path(r) : base / r;
    auto crl = x509::load_crl_file(path.string());
    // A CRL that cannot be read is no CRL: certificates it covers become "status unknown".
    if (crl) s->crls.push_back(std::move(*crl));
  }
  for (auto& n : strings(t["trusted_servers"], "trusted_servers")) {
    auto net = Network::parse(n);
    if (!net) return fail(Errc::config, "trusted_servers: " + net.error().message);
    p.trusted_servers.push_back(*net);
  }
  for (auto& a : strings(t["trusted_listservs"], "trusted_listservs"))
    p.trusted_listservs.insert(ascii_lower(a));

  std::map<std::string, std::string> ocsp;  // domain → good | revoked, from seegw-control
  if (auto ok = read_peer_lists(t, base, *s, ocsp); !ok) return std::unexpected(ok.error());
  if (!problem.empty()) return fail(Errc::config, fmt::format("{}: {}", file.string(), problem));

  // Each peer certificate's state now (OUT-5), against this snapshot's roots and CRLs — and the
  // signed OCSP answer control got, which settles a status the CRLs left unknown, and revokes.
  for (auto& [domain, cert] : s->certificates) {
    auto v = s->check(cert.get(), {}, domain.find('@') == std::string::npos ? domain : "", now);
    auto state = to_cert_state(v.state);
    if (auto o = ocsp.find(domain); o != ocsp.end()) {
      if (o->second == "revoked")
        state = policy::CertState::revoked;
      else if (state == policy::CertState::status_unknown)
        state = policy::CertState::valid;
    }
    p.certificates[domain] = {state, false};
  }
  add_learnt(*s, learnt, now);
  return std::shared_ptr<const TrustState>(std::move(s));
}

}  // namespace seegw::seemail
