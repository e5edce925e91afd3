#include "seegw/sts/policy_cache.hpp"

#include <curl/curl.h>
#include <fmt/format.h>

#include <memory>

#include "seegw/dns/mail_exchangers.hpp"

namespace seegw::sts {
namespace {

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct Body {
  std::string bytes;
  bool too_big = false;
};

std::size_t on_data(char* data, std::size_t size, std::size_t n, void* user) {
  auto* b = static_cast<Body*>(user);
  if (b->bytes.size() + size * n > kMaxPolicyBytes) {
    b->too_big = true;
    return 0;  // aborts the transfer
  }
  b->bytes.append(data, size * n);
  return size * n;
}

// RFC 8461 §3.3 lets a sender retry a failed fetch later; five minutes keeps a broken policy
// server from costing every message its timeout, and a changed id is fetched at once.
constexpr auto kRetryFailedFetch = std::chrono::minutes(5);

}  // namespace

std::optional<Policy> PolicyCache::policy_for(const std::string& domain, std::string& note) {
  std::string id;
  bool lookup_failed = false;
  if (auto txt = resolver_.txt("_mta-sts." + domain)) {
    for (const auto& t : *txt)
      if (auto i = record_id(t); !i.empty()) id = i;
  } else {
    lookup_failed = true;
    note = txt.error().message;
  }
  const auto now = std::chrono::steady_clock::now();
  std::optional<Entry> cached;
  {
    std::lock_guard lock(mutex_);
    auto it = cache_.find(domain);
    if (it != cache_.end() && it->second.expires <= now)
      cache_.erase(it);
    else if (it != cache_.end())
      cached = it->second;
  }
  // §5.1: an unchanged id (or no answer at all) keeps the cached policy.
  if (cached && (lookup_failed || id.empty() || id == cached->id)) return cached->policy;
  if (id.empty()) return std::nullopt;  // the domain has no policy
  if (auto why = failed_recently(domain, id, now)) {
    note = fmt::format("MTA-STS policy of {}: {} (not fetched again yet)", domain, *why);
    if (cached) return cached->policy;
    return std::nullopt;
  }
  // Fetched without the lock: one slow policy server does not hold up every other domain.
  auto fetched = fetch(domain);
  std::lock_guard lock(mutex_);
  if (!fetched) {
    note = fmt::format("MTA-STS policy of {}: {}", domain, fetched.error().message);
    failed_[domain] = {id, fetched.error().message, now + kRetryFailedFetch};
    if (cached) return cached->policy;
    return std::nullopt;  // §5: without a policy the domain is treated as having none
  }
  failed_.erase(domain);
  cache_[domain] = {id, *fetched, now + fetched->max_age};
  return *fetched;
}

std::optional<std::string> PolicyCache::failed_recently(const std::string& domain,
                                                        const std::string& id,
                                                        std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  auto it = failed_.find(domain);
  if (it == failed_.end()) return std::nullopt;
  if (it->second.id != id || it->second.retry <= now) {  // a new policy, or time to try again
    failed_.erase(it);
    return std::nullopt;
  }
  return it->second.why;
}

Result<Policy> PolicyCache::fetch(const std::string& domain) {
  const std::string host = "mta-sts." + domain;
  // The web server's address through our resolver (libcurl's would be the system's).
  auto a = resolver_.query(host, dns::RrType::a);
  if (!a) return std::unexpected(a.error());
  if (a->rdata.empty()) return fail(Errc::not_found, "no address for " + host);
  const std::string address = dns::address_rdata(a->rdata.front());
  std::unique_ptr<CURL, CurlFree> curl(curl_easy_init());
  if (!curl) return fail(Errc::unavailable, "libcurl could not start");
  const std::string url =
      fmt::format("https://{}:{}/.well-known/mta-sts.txt", host, settings_.https_port);
  std::unique_ptr<curl_slist, SlistFree> pin(curl_slist_append(
      nullptr, fmt::format("{}:{}:{}", host, settings_.https_port, address).c_str()));
  Body body;
  curl_easy_setopt(curl.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_RESOLVE, pin.get());
  curl_easy_setopt(curl.get(), CURLOPT_PROTOCOLS_STR, "https");
  curl_easy_setopt(curl.get(), CURLOPT_FOLLOWLOCATION, 0L);  // §3.3: no redirects
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_SSL_VERIFYHOST, 2L);
  if (!settings_.ca_file.empty())
    curl_easy_setopt(curl.get(), CURLOPT_CAINFO, settings_.ca_file.c_str());
  curl_easy_setopt(curl.get(), CURLOPT_TIMEOUT, static_cast<long>(settings_.timeout.count()));
  curl_easy_setopt(curl.get(), CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEFUNCTION, on_data);
  curl_easy_setopt(curl.get(), CURLOPT_WRITEDATA, &body);
  const CURLcode rc = curl_easy_perform(curl.get());
  if (body.too_big) return fail(Errc::limit, fmt::format("larger than {} bytes", kMaxPolicyBytes));
  if (rc != CURLE_OK)
    return fail(Errc::unavailable, fmt::format("{}: {}", url, curl_easy_strerror(rc)));
  long status = 0;
  curl_easy_getinfo(curl.get(), CURLINFO_RESPONSE_CODE, &status);
  if (status != 200) return fail(Errc::unavailable, fmt::format("{}: HTTP status {}", url, status));
  return parse_policy(body.bytes);
}

}  // namespace seegw::sts
