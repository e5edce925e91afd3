#include "inbound_checks.hpp"

#include <fmt/format.h>

#include "seegw/common/log.hpp"

namespace seegw::relay {

Result<std::unique_ptr<InboundChecks>> InboundChecks::start(
    const config::Config& config, dns::Resolver& resolver,
    std::function<bool(const std::string& from_domain, std::string_view message)> judged_by_smime) {
  sender_auth::CheckSettings settings;
  settings.public_suffix_list = config.inbound_auth.public_suffix_list;
  settings.time_limit = config.inbound_auth.time_limit;
  settings.judged_by_smime = std::move(judged_by_smime);
  auto check = sender_auth::SenderCheck::create(resolver, std::move(settings));
  if (!check) return std::unexpected(check.error());
  std::unique_ptr<InboundChecks> checks(new InboundChecks());
  checks->check_ = std::move(*check);
  checks->threads_ = std::make_unique<WaitingThreads>(config.inbound_auth.threads);
  return checks;
}

void InboundChecks::submit(Job job) {
  threads_->run([this, job = std::move(job)] {
    auto verdict = check_->check(job.facts, *job.content);
    ++by_disposition_[static_cast<std::size_t>(verdict.disposition)];
    job.done(std::move(verdict));
  });
}

std::string InboundChecks::counts() const {
  const auto n = [&](sender_auth::Disposition d) {
    return by_disposition_[static_cast<std::size_t>(d)].load();
  };
  using sender_auth::Disposition;
  return fmt::format("{} delivered, {} quarantined, {} rejected, {} deferred",
                     n(Disposition::deliver), n(Disposition::quarantine), n(Disposition::reject),
                     n(Disposition::defer));
}

std::string authentication_results(const config::Config& config, const smtp::Envelope& envelope,
                                   const sender_auth::Verdict& verdict) {
  return sender_auth::authentication_results(config.inbound_auth.authserv_id, verdict,
                                             envelope.mail_from, envelope.helo);
}

std::string verdict_summary(const sender_auth::Verdict& v) {
  static constexpr std::string_view kDone[] = {"delivered", "quarantined", "rejected", "deferred"};
  std::string dkim;
  for (const auto& d : v.dkim)
    dkim += fmt::format("{}{}({})", dkim.empty() ? "" : ",",
                        sender_auth::auth_result_name(d.result), d.domain);
  return fmt::format(
      "spf={} dkim={} dmarc={}{} from-domain={} → {}{}", sender_auth::spf_result_name(v.spf.result),
      dkim.empty() ? "none" : dkim, sender_auth::auth_result_name(v.dmarc.result),
      v.dmarc.policy.empty() ? "" : "(p=" + v.dmarc.policy + ")",
      v.dmarc.from_domain.empty() ? "-" : v.dmarc.from_domain,
      kDone[static_cast<int>(v.disposition)], v.reason.empty() ? "" : ": " + v.reason);
}

}  // namespace seegw::relay
