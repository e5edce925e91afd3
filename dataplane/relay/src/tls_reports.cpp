#include "seegw/relay/tls_reports.hpp"

#include <fmt/format.h>
#include <zlib.h>

#include <nlohmann/json.hpp>

#include "seegw/mime/header_fields.hpp"

namespace seegw::relay {
namespace {

std::string utc(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

}  // namespace

void TlsReports::success(const TlsPolicyApplied& p) {
  std::lock_guard lock(mutex_);
  ++counts_[{p.domain, p.type, p.strings}].successes;
}

void TlsReports::failure(const TlsPolicyApplied& p, const std::string& result_type,
                         const std::string& mx_host, const std::string& ip) {
  std::lock_guard lock(mutex_);
  ++counts_[{p.domain, p.type, p.strings}].failures[{result_type, mx_host, ip}];
}

std::vector<TlsReports::Report> TlsReports::take(std::time_t start, std::time_t end,
                                                 const std::string& organization,
                                                 const std::string& contact) {
  std::map<Key, Counts> taken;
  {
    std::lock_guard lock(mutex_);
    taken.swap(counts_);
  }
  std::map<std::string, nlohmann::json> by_domain;
  for (const auto& [key, counts] : taken) {
    const auto& [domain, type, strings] = key;
    std::size_t failed = 0;
    nlohmann::json details = nlohmann::json::array();
    for (const auto& [what, n] : counts.failures) {
      failed += n;
      details.push_back({{"result-type", std::get<0>(what)},
                         {"receiving-mx-hostname", std::get<1>(what)},
                         {"receiving-ip", std::get<2>(what)},
                         {"failed-session-count", n}});
    }
    by_domain[domain].push_back(
        {{"policy", {{"policy-type", type}, {"policy-string", strings}, {"policy-domain", domain}}},
         {"summary",
          {{"total-successful-session-count", counts.successes},
           {"total-failure-session-count", failed}}},
         {"failure-details", details}});
  }
  std::vector<Report> out;
  for (auto& [domain, policies] : by_domain) {
    nlohmann::json report = {
        {"organization-name", organization},
        {"date-range", {{"start-datetime", utc(start)}, {"end-datetime", utc(end)}}},
        {"contact-info", contact},
        {"report-id", fmt::format("{}.{}@{}", utc(start), domain, organization)},
        {"policies", policies}};
    out.push_back({domain, report.dump(2)});
  }
  return out;
}

std::string gzip(const std::string& bytes) {
  z_stream z{};
  if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    return {};
  std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  const int rc = deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return rc == Z_STREAM_END ? out : std::string();
}

}  // namespace seegw::relay
