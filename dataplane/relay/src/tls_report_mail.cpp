// TLS-RPT reports as mail (RFC 8460 §5.3): to each mailto: address of the policy domain's
// _smtp._tls record, a multipart/report with the gzip'ed JSON, through the pipeline like every
// message the gateway writes (DKIM-signed on the way out).
#include <fmt/format.h>

#include <mutex>

#include "seegw/common/log.hpp"
#include "seegw/dns/records.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/mime/header_fields.hpp"
#include "seegw/relay/gateway.hpp"

namespace seegw::relay {
namespace {

std::string day(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday);
}

// The mailto: addresses of "v=TLSRPTv1; rua=mailto:a@x,mailto:b@y" (https: ones are not used).
std::vector<std::string> report_addresses(const std::vector<std::string>& txt) {
  std::vector<std::string> out;
  for (const auto& t : txt) {
    if (!t.starts_with("v=TLSRPTv1")) continue;
    const std::string rua = dns::tag_list(t)["rua"];
    for (std::size_t at = 0; at < rua.size();) {
      const auto comma = rua.find(',', at);
      const std::string uri =
          rua.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
      at = comma == std::string::npos ? rua.size() : comma + 1;
      if (uri.starts_with("mailto:") && uri.find_first_of("<>\r\n ") == std::string::npos)
        out.push_back(uri.substr(7));
    }
  }
  return out;
}

seemail::GeneratedMessage report_message(const config::Config& c, const TlsReports::Report& r,
                                         const std::vector<std::string>& to, std::time_t start,
                                         std::time_t end) {
  const std::string from = "tls-reports@" + c.domain;
  const std::string file =
      fmt::format("{}!{}!{}!{}.json.gz", c.domain, r.policy_domain, start, end);
  const std::string boundary = fmt::format("tlsrpt-{}-{}", end, r.policy_domain);
  std::string list;
  for (const auto& a : to) list += (list.empty() ? "<" : ", <") + a + ">";
  seemail::GeneratedMessage g;
  g.recipients = to;
  g.envelope_sender = from;
  g.what = "TLS report for " + r.policy_domain;
  g.content = fmt::format(
      "From: <{}>\r\nTo: {}\r\nSubject: Report Domain: {} Submitter: {} Report-ID: <{}.{}@{}>\r\n"
      "Date: {}\r\nMessage-ID: <tlsrpt.{}.{}@{}>\r\nTLS-Report-Domain: {}\r\n"
      "TLS-Report-Submitter: {}\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/report; report-type=\"tlsrpt\"; boundary=\"{}\"\r\n\r\n"
      "--{}\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
      "TLS report for {} from {}, {} to {} (RFC 8460).\r\n\r\n"
      "--{}\r\nContent-Type: application/tlsrpt+gzip\r\nContent-Transfer-Encoding: base64\r\n"
      "Content-Disposition: attachment; filename=\"{}\"\r\n\r\n{}\r\n--{}--\r\n",
      from, list, r.policy_domain, c.domain, end, r.policy_domain, c.domain,
      mime::rfc5322_date(end), end, r.policy_domain, c.domain, r.policy_domain, c.domain, boundary,
      boundary, r.policy_domain, c.domain, day(start), day(end), boundary, file,
      mime::encode_base64(gzip(r.json)), boundary);
  return g;
}

}  // namespace

std::vector<std::string> Gateway::send_tls_reports(std::time_t end) {
  const std::time_t start = tls_reports_since_.exchange(end);
  std::vector<std::string> sent;
  auto reports = tls_reports_.take(start, end, config_.domain, "postmaster@" + config_.domain);
  if (reports.empty()) return sent;
  auto r = resolver();
  for (const auto& report : reports) {
    auto txt = r ? (*r)->txt("_smtp._tls." + report.policy_domain)
                 : Result<std::vector<std::string>>(std::unexpected(r.error()));
    const auto to = txt ? report_addresses(*txt) : std::vector<std::string>{};
    if (to.empty()) {
      sent.push_back(report.policy_domain + ": no report address (_smtp._tls with rua=mailto:)");
      continue;
    }
    queue_->inject(report_message(config_, report, to, start, end), "tls-report");
    sent.push_back(fmt::format("{}: to {}", report.policy_domain, fmt::join(to, ", ")));
    log::info("tls-report: {}", sent.back());
  }
  return sent;
}

void Gateway::send_tls_reports_when_due() {
  const std::time_t now = std::time(nullptr);
  if (day(now) != day(tls_reports_since_.load())) send_tls_reports(now - now % 86400);
}

}  // namespace seegw::relay
