// The SEEMail directory (rules DIR-1, DIR-2): an LDAPv3 server holding the SEEMAIL and VENDOR
// lists (agencies as `*@domain` entries with their community level) and the agencies' domain
// certificates under `c=NZ`. OpenLDAP's libldap; ldap:// with StartTLS or ldaps://, the server's
// certificate checked against a CA file. Every value put into a search filter is escaped
// (RFC 4515), so an address with `*`, `(`, `)`, `\` or NUL cannot change the filter.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/x509/certificate.hpp"

namespace seegw::directory {

struct DirectoryConfig {
  std::string uri;        // ldap://host:port or ldaps://host:port
  bool start_tls = true;  // for ldap://: StartTLS, required (a directory in clear is refused)
  std::string ca_file;    // the directory server's CA; empty: the system's
  std::string bind_dn;    // empty: anonymous
  std::string password_file;
  std::chrono::seconds timeout{10};
  // DIR-1: where the lists are; agencies are entries with mail=*@domain under these bases.
  std::string seemail_base = "ou=SEEMAIL,c=NZ";
  std::string vendor_base = "ou=VENDOR,c=NZ";
  // §2.15: the entry that holds our own certificate (userCertificate;binary), written by
  // `certificate publish` with the bind credentials above; "" = not published by the gateway.
  std::string publish_dn;
  std::string community_attribute = "businessCategory";  // "Restricted" or "Standard"
};

// DIR-2: how one trusted CA's directory is searched for a domain's certificate.
struct DiscoverySpec {
  std::string base = "c=NZ";
  std::string filter_template = "(mail=domain-confidentiality-authority@{domain})";
  std::string attribute = "userCertificate";  // ;binary is asked for too
};

enum class List { seemail, vendor };
enum class Community { standard, restricted };

struct AgencyEntry {
  std::string domain;  // lower case
  std::string name;    // the entry's o or cn
  List list = List::seemail;
  Community community = Community::standard;
};

// RFC 4515 §3: `*`, `(`, `)`, `\` and NUL as \2a, \28, \29, \5c, \00.
std::string escape_filter_value(std::string_view value);
// The filter for `domain`: the template's {domain} replaced by the escaped domain.
std::string discovery_filter(const DiscoverySpec& spec, std::string_view domain);

// DIR-4: the value an LDAP URL (RFC 4516) names — a CRL distribution point such as
// ldap://host/cn=CA,ou=crls,c=NZ?certificateRevocationList;binary — read anonymously. The
// value is signed by its issuer, so integrity does not rest on the connection; ldaps:// is
// checked against `ca_file` (or the system's CAs) all the same. Errc::unavailable when the
// server cannot be reached, Errc::not_found when there is no such entry or value.
Result<std::string> fetch_url_value(const std::string& url, std::chrono::seconds timeout,
                                    const std::string& ca_file = "",
                                    std::size_t max_bytes = 20 << 20);

class Directory {
 public:
  // Connects, starts TLS as configured and binds. Errc::unavailable when the server cannot be
  // reached (the caller keeps its last good data and retries), Errc::config for bad settings.
  static Result<std::unique_ptr<Directory>> connect(const DirectoryConfig& config);
  ~Directory();
  Directory(const Directory&) = delete;
  Directory& operator=(const Directory&) = delete;

  // DIR-1: every agency on the SEEMAIL and VENDOR lists.
  Result<std::vector<AgencyEntry>> agencies();
  // §2.15: `certificate` (DER) replaces the userCertificate values of the entry `dn`. The entry
  // must exist (the directory's owner makes it); Errc::not_found when it does not.
  Result<void> publish_certificate(const std::string& dn, std::string_view der);
  // DIR-2: the certificates the directory holds for a domain (validation is the caller's).
  Result<std::vector<x509::Certificate>> discover(const DiscoverySpec& spec,
                                                  std::string_view domain);

 private:
  Directory() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seegw::directory
