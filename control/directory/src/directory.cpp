#include "seegw/directory/directory.hpp"

#include <fmt/format.h>
#include <ldap.h>

#include "seegw/common/file.hpp"
#include "seegw/common/text.hpp"

namespace seegw::directory {
namespace {

struct LdapUnbind {
  void operator()(LDAP* ld) const { ldap_unbind_ext_s(ld, nullptr, nullptr); }
};
struct MessageFree {
  void operator()(LDAPMessage* m) const { ldap_msgfree(m); }
};
struct ValuesFree {
  void operator()(berval** v) const { ldap_value_free_len(v); }
};
using Ldap = std::unique_ptr<LDAP, LdapUnbind>;
using Message = std::unique_ptr<LDAPMessage, MessageFree>;
using Values = std::unique_ptr<berval*, ValuesFree>;

// Whether an LDAP result code means "the directory is not there now" (keep the last good data,
// retry later) rather than "this request is wrong".
bool is_unavailable(int rc) {
  return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR || rc == LDAP_TIMEOUT ||
         rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_TIMELIMIT_EXCEEDED;
}

Error ldap_error(int rc, std::string_view what, const std::string& uri) {
  return Error{is_unavailable(rc) ? Errc::unavailable : Errc::protocol,
               fmt::format("directory {}: {}: {}", uri, what, ldap_err2string(rc))};
}

std::vector<std::string> values(LDAP* ld, LDAPMessage* entry, const char* attribute) {
  std::vector<std::string> out;
  Values v(ldap_get_values_len(ld, entry, attribute));
  if (!v) return out;
  for (berval** p = v.get(); *p; ++p) out.emplace_back((*p)->bv_val, (*p)->bv_len);
  return out;
}

struct UrlFree {
  void operator()(LDAPURLDesc* u) const { ldap_free_urldesc(u); }
};

}  // namespace

Result<std::string> fetch_url_value(const std::string& url, std::chrono::seconds timeout,
                                    const std::string& ca_file, std::size_t max_bytes) {
  LDAPURLDesc* raw = nullptr;
  if (ldap_url_parse(url.c_str(), &raw) != LDAP_URL_SUCCESS)
    return fail(Errc::parse, "not an LDAP URL: " + url);
  std::unique_ptr<LDAPURLDesc, UrlFree> u(raw);
  if (!u->lud_attrs || !u->lud_attrs[0])
    return fail(Errc::config, url + " names no attribute (…?certificateRevocationList;binary)");
  const std::string server = fmt::format("{}://{}:{}", u->lud_scheme,
                                         u->lud_host && *u->lud_host ? u->lud_host : "localhost",
                                         u->lud_port                                  ? u->lud_port
                                         : std::string_view(u->lud_scheme) == "ldaps" ? 636
                                                                                      : 389);
  LDAP* ld_raw = nullptr;
  if (int rc = ldap_initialize(&ld_raw, server.c_str()); rc != LDAP_SUCCESS)
    return std::unexpected(ldap_error(rc, "initialize", server));
  Ldap ld(ld_raw);
  const int version = LDAP_VERSION3;
  ldap_set_option(ld.get(), LDAP_OPT_PROTOCOL_VERSION, &version);
  timeval tv{static_cast<time_t>(timeout.count()), 0};
  ldap_set_option(ld.get(), LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld.get(), LDAP_OPT_TIMEOUT, &tv);
  ldap_set_option(ld.get(), LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  if (!ca_file.empty()) ldap_set_option(ld.get(), LDAP_OPT_X_TLS_CACERTFILE, ca_file.c_str());
  const int demand = LDAP_OPT_X_TLS_DEMAND;
  ldap_set_option(ld.get(), LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
  const int new_ctx = 0;
  ldap_set_option(ld.get(), LDAP_OPT_X_TLS_NEWCTX, &new_ctx);
  berval anonymous{0, nullptr};
  if (int rc = ldap_sasl_bind_s(ld.get(), nullptr, LDAP_SASL_SIMPLE, &anonymous, nullptr, nullptr,
                                nullptr);
      rc != LDAP_SUCCESS)
    return std::unexpected(ldap_error(rc, "bind", server));
  LDAPMessage* result = nullptr;
  int rc = ldap_search_ext_s(ld.get(), u->lud_dn ? u->lud_dn : "",
                             u->lud_scope == LDAP_SCOPE_DEFAULT ? LDAP_SCOPE_BASE : u->lud_scope,
                             u->lud_filter ? u->lud_filter : "(objectClass=*)", u->lud_attrs, 0,
                             nullptr, nullptr, &tv, 1, &result);
  Message owned(result);
  if (rc == LDAP_NO_SUCH_OBJECT) return fail(Errc::not_found, url + ": no such entry");
  if (rc != LDAP_SUCCESS) return std::unexpected(ldap_error(rc, "search", url));
  LDAPMessage* entry = ldap_first_entry(ld.get(), result);
  if (!entry) return fail(Errc::not_found, url + ": no such entry");
  for (char** a = u->lud_attrs; *a; ++a) {
    auto found = values(ld.get(), entry, *a);
    if (found.empty()) continue;
    if (found.front().size() > max_bytes)
      return fail(Errc::limit,
                  fmt::format("{}: the value is larger than {} bytes", url, max_bytes));
    return std::move(found.front());
  }
  return fail(Errc::not_found, url + ": the entry has no such value");
}

std::string escape_filter_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '*':
        out += "\\2a";
        break;
      case '(':
        out += "\\28";
        break;
      case ')':
        out += "\\29";
        break;
      case '\\':
        out += "\\5c";
        break;
      case '\0':
        out += "\\00";
        break;
      default:
        out.push_back(c);
    }
  }
  return out;
}

std::string discovery_filter(const DiscoverySpec& spec, std::string_view domain) {
  std::string out = spec.filter_template;
  const std::string escaped = escape_filter_value(domain);
  for (std::size_t pos = out.find("{domain}"); pos != std::string::npos;
       pos = out.find("{domain}", pos + escaped.size()))
    out.replace(pos, 8, escaped);
  return out;
}

struct Directory::Impl {
  Ldap ld;
  DirectoryConfig config;

  Result<Message> search(const std::string& base, const std::string& filter,
                         std::vector<const char*> attributes) {
    attributes.push_back(nullptr);
    timeval tv{static_cast<time_t>(config.timeout.count()), 0};
    LDAPMessage* res = nullptr;
    int rc = ldap_search_ext_s(ld.get(), base.c_str(), LDAP_SCOPE_SUBTREE, filter.c_str(),
                               const_cast<char**>(attributes.data()), 0, nullptr, nullptr, &tv,
                               10000, &res);
    Message owned(res);
    if (rc == LDAP_NO_SUCH_OBJECT) return Message();  // an empty list is not an error
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED)
      return std::unexpected(ldap_error(rc, "search " + base, config.uri));
    return owned;
  }
};

Result<std::unique_ptr<Directory>> Directory::connect(const DirectoryConfig& config) {
  if (config.uri.empty()) return fail(Errc::config, "directory: no uri");
  const bool ldaps = config.uri.starts_with("ldaps://");
  if (!ldaps && !config.uri.starts_with("ldap://"))
    return fail(Errc::config, "directory: uri must be ldap:// or ldaps://, not " + config.uri);
  if (!ldaps && !config.start_tls)
    return fail(Errc::config, "directory: " + config.uri +
                                  " without StartTLS would send the bind password and the "
                                  "certificates in clear; set start_tls or use ldaps://");
  std::string password;
  if (!config.bind_dn.empty()) {
    auto p = read_secret_file(config.password_file, "directory password file");
    if (!p) return std::unexpected(p.error());
    password = std::move(*p);
  }
  LDAP* raw = nullptr;
  if (int rc = ldap_initialize(&raw, config.uri.c_str()); rc != LDAP_SUCCESS)
    return fail(Errc::config, fmt::format("directory {}: {}", config.uri, ldap_err2string(rc)));
  std::unique_ptr<Directory> d(new Directory());
  d->impl_ = std::make_unique<Impl>();
  d->impl_->ld.reset(raw);
  d->impl_->config = config;
  LDAP* ld = raw;
  const int v3 = LDAP_VERSION3;
  ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
  ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
  timeval tv{static_cast<time_t>(config.timeout.count()), 0};
  ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
  ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
  // The server's certificate is always checked; a per-connection TLS context carries the CA.
  const int demand = LDAP_OPT_X_TLS_DEMAND;
  ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand);
  if (!config.ca_file.empty())
    ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, config.ca_file.c_str());
  const int is_server = 0;
  ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &is_server);
  if (!ldaps) {
    if (int rc = ldap_start_tls_s(ld, nullptr, nullptr); rc != LDAP_SUCCESS)
      return std::unexpected(ldap_error(rc, "StartTLS", config.uri));
  }
  berval cred{static_cast<ber_len_t>(password.size()), password.data()};
  int rc = ldap_sasl_bind_s(ld, config.bind_dn.empty() ? nullptr : config.bind_dn.c_str(),
                            LDAP_SASL_SIMPLE, &cred, nullptr, nullptr, nullptr);
  std::fill(password.begin(), password.end(), '\0');
  if (rc != LDAP_SUCCESS) return std::unexpected(ldap_error(rc, "bind", config.uri));
  return d;
}

Directory::~Directory() = default;

Result<std::vector<AgencyEntry>> Directory::agencies() {
  std::vector<AgencyEntry> out;
  const std::string& community_attr = impl_->config.community_attribute;
  for (auto [base, list] : {std::pair{impl_->config.seemail_base, List::seemail},
                            std::pair{impl_->config.vendor_base, List::vendor}}) {
    auto res = impl_->search(base, "(mail=\\2a@*)", {"mail", "o", "cn", community_attr.c_str()});
    if (!res) return std::unexpected(res.error());
    LDAP* ld = impl_->ld.get();
    for (LDAPMessage* e = ldap_first_entry(ld, res->get()); e; e = ldap_next_entry(ld, e)) {
      auto names = values(ld, e, "o");
      if (names.empty()) names = values(ld, e, "cn");
      const auto community = values(ld, e, community_attr.c_str());
      for (const auto& mail : values(ld, e, "mail")) {
        if (!mail.starts_with("*@") || mail.size() < 4) continue;
        AgencyEntry a;
        a.domain = ascii_lower(mail.substr(2));
        a.name = names.empty() ? a.domain : names.front();
        a.list = list;
        a.community = !community.empty() && iequals(community.front(), "restricted")
                          ? Community::restricted
                          : Community::standard;
        out.push_back(std::move(a));
      }
    }
  }
  return out;
}

Result<void> Directory::publish_certificate(const std::string& dn, std::string_view der) {
  berval value{static_cast<ber_len_t>(der.size()), const_cast<char*>(der.data())};
  berval* values[] = {&value, nullptr};
  char attribute[] = "userCertificate;binary";
  LDAPMod mod{};
  mod.mod_op = LDAP_MOD_REPLACE | LDAP_MOD_BVALUES;
  mod.mod_type = attribute;
  mod.mod_bvalues = values;
  LDAPMod* mods[] = {&mod, nullptr};
  const int rc = ldap_modify_ext_s(impl_->ld.get(), dn.c_str(), mods, nullptr, nullptr);
  if (rc == LDAP_NO_SUCH_OBJECT)
    return fail(Errc::not_found, fmt::format("directory {}: no entry {} (the directory's owner "
                                             "makes it)",
                                             impl_->config.uri, dn));
  if (rc != LDAP_SUCCESS) return std::unexpected(ldap_error(rc, "modify " + dn, impl_->config.uri));
  return {};
}

Result<std::vector<x509::Certificate>> Directory::discover(const DiscoverySpec& spec,
                                                           std::string_view domain) {
  const std::string binary = spec.attribute + ";binary";
  auto res = impl_->search(spec.base, discovery_filter(spec, ascii_lower(domain)),
                           {spec.attribute.c_str(), binary.c_str()});
  if (!res) return std::unexpected(res.error());
  std::vector<x509::Certificate> out;
  LDAP* ld = impl_->ld.get();
  for (LDAPMessage* e = ldap_first_entry(ld, res->get()); e; e = ldap_next_entry(ld, e)) {
    for (const char* attr : {spec.attribute.c_str(), binary.c_str()}) {
      for (const auto& der : values(ld, e, attr)) {
        auto certs = x509::load_certificates(der);
        if (!certs) continue;  // a value that is no certificate is skipped, not trusted
        for (auto& c : *certs) out.push_back(std::move(c));
      }
    }
  }
  return out;
}

}  // namespace seegw::directory
