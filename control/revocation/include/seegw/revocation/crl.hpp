// Revocation data (rule DIR-4, OUT-5, IN-2): CRLs fetched from each certificate's CRL distribution
// points, their signature checked against the issuer, kept in a cache directory and fetched
// again before nextUpdate. A CRL that cannot be had, is not signed by the issuer, or has expired
// is not used — the certificate's status is then "unknown", the spec's soft path.
#pragma once

#include <chrono>
#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/x509/certificate.hpp"

namespace seegw::revocation {

// The URIs of a certificate's CRL distribution points (fullName URIs), in order.
std::vector<std::string> distribution_points(X509* certificate);

// One fetch with a time limit and a size limit: http(s):// with libcurl, ldap(s):// (RFC 4516
// URL naming the attribute) with libldap. Errc::unavailable when the
// point cannot be reached; Errc::limit when the answer is larger than `max_bytes`.
Result<std::string> fetch(const std::string& uri, std::chrono::seconds timeout,
                          std::size_t max_bytes = 20 << 20);

// Checks a CRL before it is used: signed by `issuer`, not expired at `now`.
Result<void> check_crl(X509_CRL* crl, X509* issuer, std::time_t now);

struct Refreshed {
  std::string uri;
  std::filesystem::path file;  // the cached CRL (PEM), when there is a usable one
  std::string status;          // "fetched", "cached (fresh)", or why none is usable
  bool usable = false;
};

// For each distribution point of `certificate`: use the cached CRL while it is well inside its
// validity (`refresh_before` ahead of nextUpdate), otherwise fetch, check against `issuer` and
// store atomically; a failed fetch keeps a cached CRL that is still valid.
std::vector<Refreshed> refresh(X509* certificate, X509* issuer, const std::filesystem::path& cache,
                               std::time_t now, std::chrono::seconds timeout,
                               std::chrono::seconds refresh_before = std::chrono::hours(1));

// OCSP (RFC 6960), a second source beside CRLs: the responders a certificate's Authority
// Information Access names, asked over HTTP POST with a nonce; the answer must be signed by the
// issuer (or a responder it delegated to), carry our nonce when the responder echoes one, and be
// current (thisUpdate/nextUpdate, five minutes' leeway).
std::vector<std::string> ocsp_responders(X509* certificate);

enum class OcspStatus { good, revoked, unknown };
struct OcspAnswer {
  OcspStatus status = OcspStatus::unknown;
  std::string detail;  // the reason, the revocation time, or why the answer is unusable
};
// Errc::unavailable when the responder cannot be reached; Errc::corrupt when its answer cannot
// be trusted (not signed by the issuer, stale, wrong nonce) — either way the status is unknown.
Result<OcspAnswer> query_ocsp(X509* certificate, X509* issuer, const std::string& url,
                              std::chrono::seconds timeout, std::time_t now);

}  // namespace seegw::revocation
