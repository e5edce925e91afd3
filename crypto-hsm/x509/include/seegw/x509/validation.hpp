// One function that answers the business requirements' certificate table (§2.8, rules OUT-5,
// IN-1, IN-2, DIR-3, DIR-4): what state is this certificate in, for this sender domain, now?
// Pure: trusted roots, intermediates, CRLs and the clock are all passed in.
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include "seegw/x509/certificate.hpp"

namespace seegw::x509 {

enum class CertificateState {
  valid,
  revoked,     // revoked or suspended (on hold) per a valid CRL
  unknown_ca,  // no chain to a trusted root (the S.E.E. Manager list)
  expired,
  not_yet_valid,
  status_unknown,  // no usable CRL (missing, expired, or not signed by the issuer)
  name_mismatch,   // RFC 3183 naming, or the sender's domain is not covered
  self_signed,     // a self-signed end-entity certificate is never trusted
  bad_key_usage,
};
std::string_view state_name(CertificateState state);

// Which RFC 3183 name the certificate must carry.
enum class Role { confidentiality, signing, either };

struct ValidationInput {
  X509* certificate = nullptr;
  std::vector<X509*> intermediates;  // untrusted, e.g. from the message
  std::vector<X509*> trusted_roots;
  std::vector<X509_CRL*> crls;
  std::time_t now = 0;
  std::string sender_domain;  // empty: no domain check (e.g. choosing a recipient certificate)
  Role role = Role::either;
  std::optional<std::time_t> key_created;  // for the 4-year key-age warning
};

struct Validation {
  CertificateState state = CertificateState::valid;
  std::string detail;                  // why, for logs and notifications
  std::vector<std::string> warnings;   // DIR-3/DIR-4 warnings that do not change the state
  std::vector<std::string> addresses;  // rfc822Name SANs and PKCS#9 emailAddress values
  // IN-1, §2.6: the certificate names no address, or none covering the sender's domain ("" when
  // it does, or no sender domain was given). A fact apart from `state`: an expired certificate
  // that names another domain is both, whichever of the two `state` reports. (A common name that
  // is not a domain authority's makes `state` name_mismatch only: an individual's certificate.)
  std::string naming;
};

Validation validate(const ValidationInput& input);

// §2.7: the warning for a certificate without a CRL distribution point, "" when it has one. Its
// revocation status can then come only from a CRL the administrator adds or OCSP; until then the
// certificate is "status could not be checked": mail is sent and the administrator told (OUT-5).
std::string missing_crl_distribution_point(X509* certificate);

// Every e-mail address a certificate names (DIR-3: several are allowed).
std::vector<std::string> certificate_addresses(const X509* cert);
// RFC 3183 §3.1.1: the domain equals or descends from the address's domain.
bool domain_covered(std::string_view sender_domain, std::string_view certificate_domain);

}  // namespace seegw::x509
