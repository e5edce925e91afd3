#include "seegw/x509/validation.hpp"

#include "seegw/common/text.hpp"

#include <fmt/format.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <memory>

namespace seegw::x509 {
namespace {

constexpr std::string_view kDca = "domain-confidentiality-authority";
constexpr std::string_view kDsa = "domain-signing-authority";
constexpr long kThirteenMonthsDays = 396;
constexpr std::time_t kFourYears = 4L * 365 * 24 * 3600 + 24 * 3600;

struct StoreCtxFree {
  void operator()(X509_STORE_CTX* s) const { X509_STORE_CTX_free(s); }
};

// Collects every verification error instead of stopping at the first.
int collect_errors(int ok, X509_STORE_CTX* ctx) {
  if (!ok) {
    auto* errors = static_cast<std::vector<int>*>(X509_STORE_CTX_get_app_data(ctx));
    if (errors && X509_STORE_CTX_get_error_depth(ctx) == 0)
      errors->push_back(X509_STORE_CTX_get_error(ctx));
    if (errors && X509_STORE_CTX_get_error_depth(ctx) > 0)
      errors->push_back(-X509_STORE_CTX_get_error(ctx));
  }
  return 1;
}

CertificateState state_of_error(int err) {
  const bool leaf = err > 0;
  switch (std::abs(err)) {
    case X509_V_ERR_CERT_REVOKED:
      return CertificateState::revoked;
    case X509_V_ERR_CERT_HAS_EXPIRED:
      return leaf ? CertificateState::expired : CertificateState::unknown_ca;
    case X509_V_ERR_CERT_NOT_YET_VALID:
      return leaf ? CertificateState::not_yet_valid : CertificateState::unknown_ca;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
    case X509_V_ERR_CRL_HAS_EXPIRED:
    case X509_V_ERR_CRL_NOT_YET_VALID:
    case X509_V_ERR_CRL_SIGNATURE_FAILURE:
    case X509_V_ERR_UNABLE_TO_GET_CRL_ISSUER:
    case X509_V_ERR_UNABLE_TO_DECRYPT_CRL_SIGNATURE:
    case X509_V_ERR_ERROR_IN_CRL_LAST_UPDATE_FIELD:
    case X509_V_ERR_ERROR_IN_CRL_NEXT_UPDATE_FIELD:
    case X509_V_ERR_DIFFERENT_CRL_SCOPE:
      return CertificateState::status_unknown;
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
      return CertificateState::self_signed;
    default:
      return CertificateState::unknown_ca;  // anything else about the chain: fail closed
  }
}

// Worse first: the state reported is the worst one found.
int severity(CertificateState s) {
  switch (s) {
    case CertificateState::self_signed:
      return 8;
    case CertificateState::unknown_ca:
      return 7;
    case CertificateState::revoked:
      return 6;
    case CertificateState::expired:
      return 5;
    case CertificateState::not_yet_valid:
      return 4;
    case CertificateState::bad_key_usage:
      return 3;
    case CertificateState::name_mismatch:
      return 2;
    case CertificateState::status_unknown:
      return 1;
    case CertificateState::valid:
      return 0;
  }
  return 8;
}

void worsen(Validation& v, CertificateState s, std::string detail) {
  if (severity(s) > severity(v.state)) {
    v.state = s;
    v.detail = std::move(detail);
  }
}

std::vector<std::string> common_names(const X509* cert) {
  std::vector<std::string> out;
  X509_NAME* name = X509_get_subject_name(cert);
  int i = -1;
  while ((i = X509_NAME_get_index_by_NID(name, NID_commonName, i)) >= 0) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    unsigned char* utf8 = nullptr;
    int n = ASN1_STRING_to_UTF8(&utf8, s);
    if (n >= 0) out.emplace_back(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(n));
    OPENSSL_free(utf8);
  }
  return out;
}

}  // namespace

std::string_view state_name(CertificateState s) {
  switch (s) {
    case CertificateState::valid:
      return "valid";
    case CertificateState::revoked:
      return "revoked";
    case CertificateState::unknown_ca:
      return "unknown-ca";
    case CertificateState::expired:
      return "expired";
    case CertificateState::not_yet_valid:
      return "not-yet-valid";
    case CertificateState::status_unknown:
      return "status-unknown";
    case CertificateState::name_mismatch:
      return "name-mismatch";
    case CertificateState::self_signed:
      return "self-signed";
    case CertificateState::bad_key_usage:
      return "bad-key-usage";
  }
  return "?";
}

std::vector<std::string> certificate_addresses(const X509* cert) {
  std::vector<std::string> out;
  auto* sans =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; sans && i < sk_GENERAL_NAME_num(sans); ++i) {
    const GENERAL_NAME* g = sk_GENERAL_NAME_value(sans, i);
    if (g->type != GEN_EMAIL) continue;
    const ASN1_IA5STRING* s = g->d.rfc822Name;
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(sans);
  X509_NAME* name = X509_get_subject_name(cert);
  int i = -1;
  while ((i = X509_NAME_get_index_by_NID(name, NID_pkcs9_emailAddress, i)) >= 0) {
    ASN1_STRING* s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  return out;
}

bool domain_covered(std::string_view sender_domain, std::string_view certificate_domain) {
  std::string s = ascii_lower(sender_domain), c = ascii_lower(certificate_domain);
  if (c.empty()) return false;
  return s == c || (s.size() > c.size() && s.ends_with(c) && s[s.size() - c.size() - 1] == '.');
}

std::string missing_crl_distribution_point(X509* cert) {
  auto* points = static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(cert, NID_crl_distribution_points, nullptr, nullptr));
  const bool has = points && sk_DIST_POINT_num(points) > 0;
  CRL_DIST_POINTS_free(points);
  return has ? ""
             : "the certificate names no CRL distribution point (§2.7): its revocation status "
               "comes only from a CRL the administrator adds or from OCSP";
}

Validation validate(const ValidationInput& in) {
  Validation v;
  X509* cert = in.certificate;
  if (!cert) {
    v.state = CertificateState::unknown_ca;
    v.detail = "no certificate";
    return v;
  }
  v.addresses = certificate_addresses(cert);

  // Chain, dates and revocation, every error collected.
  TrustStore store(X509_STORE_new());
  bool self_is_root = false;
  for (X509* r : in.trusted_roots) {
    X509_STORE_add_cert(store.get(), r);
    if (X509_cmp(r, cert) == 0) self_is_root = true;
  }
  for (X509_CRL* c : in.crls) X509_STORE_add_crl(store.get(), c);
  X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_USE_CHECK_TIME);
  CertificateStack chain(sk_X509_new_null());
  for (X509* c : in.intermediates) sk_X509_push(chain.get(), c);
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  std::vector<int> errors;
  X509_STORE_CTX_init(ctx.get(), store.get(), cert, chain.get());
  X509_STORE_CTX_set_time(ctx.get(), 0, in.now);
  X509_STORE_CTX_set_verify_cb(ctx.get(), collect_errors);
  X509_STORE_CTX_set_app_data(ctx.get(), &errors);
  X509_verify_cert(ctx.get());

  // Self-signed: issuer equals subject and its own key verifies it (X509_check_issued would also
  // insist on keyCertSign, which an end entity posing as its own root may not have).
  EVP_PKEY* own_key = X509_get0_pubkey(cert);
  const bool self_issued =
      X509_NAME_cmp(X509_get_subject_name(cert), X509_get_issuer_name(cert)) == 0 && own_key &&
      X509_verify(cert, own_key) == 1;
  if (self_issued && !self_is_root) {
    worsen(v, CertificateState::self_signed, "self-signed end-entity certificate");
  }
  for (int e : errors) {
    auto s = state_of_error(e);
    if (s == CertificateState::self_signed && !self_issued) s = CertificateState::unknown_ca;
    worsen(v, s,
           fmt::format("{}{}", X509_verify_cert_error_string(std::abs(e)),
                       e < 0 ? " (in the chain)" : ""));
  }

  // Key usage: a domain certificate signs and (RSA) encrypts.
  const std::uint32_t ku = X509_get_key_usage(cert);
  if (ku != UINT32_MAX) {
    const bool can_sign = ku & (KU_DIGITAL_SIGNATURE | KU_NON_REPUDIATION);
    const bool can_encrypt = ku & (KU_KEY_ENCIPHERMENT | KU_KEY_AGREEMENT);
    if ((in.role != Role::confidentiality && !can_sign) ||
        (in.role != Role::signing && !can_encrypt))
      worsen(v, CertificateState::bad_key_usage, "key usage does not allow signing and encryption");
  }

  // RFC 3183 naming: exactly one CN, the domain authority's name; addresses with that local part.
  auto cns = common_names(cert);
  std::string cn = cns.size() == 1 ? ascii_lower(cns[0]) : std::string();
  const bool cn_ok = cns.size() == 1 && ((in.role != Role::signing && cn == kDca) ||
                                         (in.role != Role::confidentiality && cn == kDsa));
  if (!cn_ok)
    worsen(v, CertificateState::name_mismatch,
           cns.size() == 1
               ? fmt::format("common name '{}' is not a domain authority's", cns[0])
               : fmt::format("{} common names; RFC 3183 wants exactly one", cns.size()));
  if (v.addresses.empty()) {
    v.warnings.push_back("the certificate contains no e-mail address");
    if (!in.sender_domain.empty()) {
      v.naming = "the certificate contains no e-mail address";
      worsen(v, CertificateState::name_mismatch, v.naming);
    }
  }
  bool covered = false;
  for (const auto& a : v.addresses) {
    auto at = a.rfind('@');
    if (at == std::string::npos) continue;
    if (cn_ok && ascii_lower(a.substr(0, at)) != cn)
      v.warnings.push_back(fmt::format("address {} does not carry the common name {}", a, cn));
    if (!in.sender_domain.empty() && domain_covered(in.sender_domain, a.substr(at + 1)))
      covered = true;
  }
  if (!in.sender_domain.empty() && !v.addresses.empty() && !covered) {
    v.naming = fmt::format("no address of the certificate covers the domain {}", in.sender_domain);
    worsen(v, CertificateState::name_mismatch, v.naming);
  }

  if (auto w = missing_crl_distribution_point(cert); !w.empty()) v.warnings.push_back(w);
  // DIR-4 warnings: 13-month certificates, 4-year keys, expiry soon.
  int days = 0, secs = 0;
  if (ASN1_TIME_diff(&days, &secs, X509_get0_notBefore(cert), X509_get0_notAfter(cert)) &&
      days > kThirteenMonthsDays)
    v.warnings.push_back(
        fmt::format("certificate is valid for {} days; S.E.E. allows 13 months", days));
  if (in.key_created && in.now - *in.key_created > kFourYears)
    v.warnings.push_back("the key pair is more than four years old: generate a new one");
  std::time_t soon = in.now + 30 * 24 * 3600;
  if (v.state == CertificateState::valid && X509_cmp_time(X509_get0_notAfter(cert), &soon) < 0)
    v.warnings.push_back("the certificate expires within 30 days");
  if (v.state == CertificateState::valid) v.detail = "valid";
  return v;
}

}  // namespace seegw::x509
