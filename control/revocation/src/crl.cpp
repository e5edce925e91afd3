#include "seegw/revocation/crl.hpp"

#include <curl/curl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <memory>

#include "http.hpp"
#include "seegw/common/file.hpp"
#include "seegw/directory/directory.hpp"

namespace seegw::revocation {
namespace fs = std::filesystem;
namespace {

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};

struct Download {
  std::string bytes;
  std::size_t max = 0;
  bool too_big = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* d = static_cast<Download*>(user);
  if (d->bytes.size() + size * n > d->max) {
    d->too_big = true;
    return 0;  // abort the transfer
  }
  d->bytes.append(data, size * n);
  return size * n;
}

// The cache file of a distribution point: its URI hashed, so any URI makes a safe file name.
fs::path cache_file(const fs::path& cache, const std::string& uri) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(uri.data(), uri.size(), md, &len, EVP_sha256(), nullptr);
  std::string name;
  for (unsigned i = 0; i < 16 && i < len; ++i) name += fmt::format("{:02x}", md[i]);
  return cache / (name + ".crl");
}

std::string crl_pem(X509_CRL* crl) {
  x509::Bio out(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(out.get(), crl);
  char* data = nullptr;
  long n = BIO_get_mem_data(out.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

bool fresh_enough(X509_CRL* crl, std::time_t now, std::chrono::seconds margin) {
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
  if (!next) return false;
  std::time_t limit = now + margin.count();
  return X509_cmp_time(next, &limit) > 0;
}

}  // namespace

std::vector<std::string> distribution_points(X509* certificate) {
  std::vector<std::string> out;
  auto* points = static_cast<CRL_DIST_POINTS*>(
      X509_get_ext_d2i(certificate, NID_crl_distribution_points, nullptr, nullptr));
  if (!points) return out;
  for (int i = 0; i < sk_DIST_POINT_num(points); ++i) {
    DIST_POINT* dp = sk_DIST_POINT_value(points, i);
    if (!dp->distpoint || dp->distpoint->type != 0) continue;  // fullName only
    GENERAL_NAMES* names = dp->distpoint->name.fullname;
    for (int j = 0; j < sk_GENERAL_NAME_num(names); ++j) {
      GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, j);
      if (gn->type != GEN_URI) continue;
      const ASN1_IA5STRING* uri = gn->d.uniformResourceIdentifier;
      out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                       static_cast<std::size_t>(ASN1_STRING_length(uri)));
    }
  }
  CRL_DIST_POINTS_free(points);
  return out;
}

namespace detail {

Result<std::string> http_transfer(const std::string& uri, std::chrono::seconds timeout,
                                  std::size_t max_bytes, const std::string* post_body,
                                  const char* content_type) {
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) return fail(Errc::unavailable, "libcurl could not start");
  Download d;
  d.max = max_bytes;
  curl_slist* headers = nullptr;
  curl_easy_setopt(curl.get(), CURLOPT_URL, uri.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &d);
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION,
                   0L);  // a CRL DP or responder does not redirect
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  if (post_body) {
    // HTTP/1.0, as OCSP responders expect (RFC 6960 A.1 was written for it): the answer ends
    // when the connection does, so a responder that never sends a length is still understood.
    curl_easy_setopt(curl.get(), CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_0));
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDS, post_body->data());
    curl_easy_setopt(curl.get(), CURLOPT_POSTFIELDSIZE, static_cast<long>(post_body->size()));
    headers = curl_slist_append(headers, fmt::format("Content-Type: {}", content_type).c_str());
    curl_easy_setopt(curl.get(), CURLOPT_HTTPHEADER, headers);
  }
  CURLcode rc = curl_easy_perform(curl.get());
  curl_slist_free_all(headers);
  if (d.too_big)
    return fail(Errc::limit, fmt::format("{}: the answer is larger than {} bytes", uri, max_bytes));
  if (rc != CURLE_OK)
    return fail(Errc::unavailable, fmt::format("{}: {}", uri, curl_easy_strerror(rc)));
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return fail(Errc::unavailable, fmt::format("{}: HTTP status {}", uri, status));
  return std::move(d.bytes);
}

}  // namespace detail

Result<std::string> fetch(const std::string& uri, std::chrono::seconds timeout,
                          std::size_t max_bytes) {
  if (uri.starts_with("ldap://") || uri.starts_with("ldaps://")) {
    auto value = directory::fetch_url_value(uri, timeout, "", max_bytes);
    if (!value) return fail(value.error().code, "CRL at " + value.error().message);
    return value;
  }
  if (!uri.starts_with("http://") && !uri.starts_with("https://"))
    return fail(Errc::config,
                "CRL distribution point " + uri + ": only http(s) and ldap(s) are fetched");
  auto got = detail::http_transfer(uri, timeout, max_bytes, nullptr, nullptr);
  if (!got) return fail(got.error().code, "CRL at " + got.error().message);
  return got;
}

Result<void> check_crl(X509_CRL* crl, X509* issuer, std::time_t now) {
  EVP_PKEY* key = X509_get0_pubkey(issuer);
  if (!key || X509_CRL_verify(crl, key) != 1)
    return fail(Errc::corrupt, "the CRL is not signed by the certificate's issuer");
  if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(issuer)) != 0)
    return fail(Errc::corrupt, "the CRL names another issuer");
  const ASN1_TIME* next = X509_CRL_get0_nextUpdate(crl);
  if (!next || X509_cmp_time(next, &now) <= 0) return fail(Errc::corrupt, "the CRL has expired");
  return {};
}

std::vector<Refreshed> refresh(X509* certificate, X509* issuer, const fs::path& cache,
                               std::time_t now, std::chrono::seconds timeout,
                               std::chrono::seconds refresh_before) {
  std::vector<Refreshed> out;
  std::error_code ec;
  fs::create_directories(cache, ec);
  for (const auto& uri : distribution_points(certificate)) {
    Refreshed r{uri, cache_file(cache, uri), "", false};
    auto cached_text = read_file(r.file.string());
    x509::Crl cached;
    if (cached_text) {
      if (auto c = x509::load_crl(*cached_text); c && check_crl(c->get(), issuer, now)) {
        cached = std::move(*c);
        if (fresh_enough(cached.get(), now, refresh_before)) {
          r.usable = true;
          r.status = "cached (fresh)";
          out.push_back(std::move(r));
          continue;
        }
      }
    }
    auto fetched = fetch(uri, timeout);
    std::string problem;
    if (!fetched) {
      problem = fetched.error().message;
    } else if (auto crl = x509::load_crl(*fetched); !crl) {
      problem = "not a CRL: " + crl.error().message;
    } else if (auto ok = check_crl(crl->get(), issuer, now); !ok) {
      problem = ok.error().message;
    } else {
      auto stored = write_file_atomically(r.file, crl_pem(crl->get()));
      r.usable = static_cast<bool>(stored);
      r.status = stored ? "fetched" : "cannot store: " + stored.error().message;
      out.push_back(std::move(r));
      continue;
    }
    // Nothing new that can be used: a cached CRL that is still valid stays in use.
    r.usable = static_cast<bool>(cached);
    r.status = r.usable ? "cached (could not refresh: " + problem + ")" : problem;
    if (!r.usable) fs::remove(r.file, ec);  // never leave an unusable CRL for the snapshot
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace seegw::revocation
