#include "seegw/relay/attempt.hpp"

#include <map>

#include "seegw/smtp/address.hpp"

namespace seegw::relay {

void DeliveryJob::complete(const smtp::DeliveryResult& result) {
  for (std::size_t i = 0; i < recipients.size(); ++i) {
    auto& slot = attempt->results[recipients[i]];
    if (i < result.recipients.size()) {
      slot = result.recipients[i];
    } else {
      slot = {attempt->record.recipients[recipients[i]].address, 451, "no result"};
    }
  }
  if (attempt->jobs_left.fetch_sub(1) == 1) attempt->on_done(attempt);
}

void DeliveryJob::fail_all(int code, std::string_view reason) {
  smtp::DeliveryResult r;
  for (auto i : recipients)
    r.recipients.push_back({attempt->record.recipients[i].address, code, std::string(reason)});
  complete(r);
}

smtp::OutboundMessage DeliveryJob::message() const {
  smtp::OutboundMessage m;
  m.mail_from = attempt->record.envelope.mail_from;
  for (auto i : recipients) m.rcpt_to.push_back(attempt->record.recipients[i].address);
  m.content = content ? content : attempt->record.content;
  m.body_type = attempt->record.envelope.body_type;
  return m;
}

std::vector<DeliveryJob> plan_jobs(const std::shared_ptr<Attempt>& attempt,
                                   const config::Config& config,
                                   const std::vector<std::shared_ptr<const std::string>>& content) {
  std::map<std::string, DeliveryJob> by_hop;
  const auto& rcpts = attempt->record.recipients;
  for (std::size_t i = 0; i < rcpts.size(); ++i) {
    if (i >= content.size() || !content[i]) continue;
    config::Route route = config.route_for(smtp::domain_of(rcpts[i].address));
    std::string key = route.next_hop.text() + "/" + std::to_string(static_cast<int>(route.tls)) +
                      "/" + std::to_string(reinterpret_cast<std::uintptr_t>(content[i].get()));
    auto [it, inserted] = by_hop.try_emplace(key);
    if (inserted) {
      it->second.attempt = attempt;
      it->second.route = std::move(route);
      it->second.content = content[i];
    }
    it->second.recipients.push_back(i);
  }
  std::vector<DeliveryJob> jobs;
  for (auto& [key, job] : by_hop) jobs.push_back(std::move(job));
  return jobs;
}

}  // namespace seegw::relay
