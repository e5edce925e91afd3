// TLS-RPT (RFC 8460): what the SMTP client saw of each policy domain's DANE or MTA-STS policy —
// sessions that succeeded, and each failure with its result type — summed until the daily
// report, which goes (JSON, gzip) to the addresses the domain's _smtp._tls record names.
// Thread-safe: the I/O loops record, the health thread reports.
#pragma once

#include <ctime>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <vector>

namespace seegw::relay {

// The policy a session was held to, as the report names it (RFC 8460 §4.4).
struct TlsPolicyApplied {
  std::string domain;                // the policy domain (the recipient domain)
  std::string type;                  // "tlsa" or "sts"
  std::vector<std::string> strings;  // the TLSA records, or the MTA-STS policy's lines
};

class TlsReports {
 public:
  void success(const TlsPolicyApplied& policy);
  // `result_type`: RFC 8460 §4.3 ("validation-failure", "certificate-host-mismatch", ...).
  void failure(const TlsPolicyApplied& policy, const std::string& result_type,
               const std::string& mx_host, const std::string& ip);

  struct Report {
    std::string policy_domain;
    std::string json;  // the report (RFC 8460 §4.4)
  };
  // One report per policy domain for [start, end), and a fresh count.
  std::vector<Report> take(std::time_t start, std::time_t end, const std::string& organization,
                           const std::string& contact);

 private:
  struct Counts {
    std::size_t successes = 0;
    // (result type, MX host, IP) → sessions
    std::map<std::tuple<std::string, std::string, std::string>, std::size_t> failures;
  };
  using Key = std::tuple<std::string, std::string, std::vector<std::string>>;
  std::mutex mutex_;
  std::map<Key, Counts> counts_;
};

// gzip (RFC 1952) of `bytes`, as report attachments are sent.
std::string gzip(const std::string& bytes);

}  // namespace seegw::relay
