// One delivery attempt of one spooled message: split by next hop into jobs that run on the I/O
// loops, each writing only its own recipients' results, the last one to finish reporting back.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

#include "seegw/config/config.hpp"
#include "seegw/seemail/stage.hpp"
#include "seegw/smtp/client_session.hpp"
#include "seegw/spool/spool_record.hpp"

namespace seegw::relay {

// A result code for recipients the SEEMail stage finished without sending (blocked with the
// sender warned, held, a ping answered): neither delivered nor bounced. Their disposition says
// which.
inline constexpr int kFinishedByPolicy = 0;

struct Attempt {
  spool::SpoolRecord record;
  std::vector<smtp::RecipientResult> results;  // parallel to record.recipients
  // The SEEMail stage's word on each recipient (parallel to record.recipients); a held one whose
  // hold cannot be written becomes `defer`.
  std::vector<seemail::Disposition> dispositions;
  std::atomic<std::size_t> jobs_left{0};
  std::function<void(std::shared_ptr<Attempt>)> on_done;
};

struct DeliveryJob {
  std::shared_ptr<Attempt> attempt;
  std::vector<std::size_t> recipients;  // indexes into attempt->record.recipients
  config::Route route;
  std::shared_ptr<const std::string> content;  // what these recipients get (signed, warned...)

  // Records the results of this job's recipients; the last job of the attempt reports it.
  void complete(const smtp::DeliveryResult& result);
  void fail_all(int code, std::string_view reason);
  smtp::OutboundMessage message() const;
};

// Groups recipients by next hop and content (RFC 5321 lets one transaction carry many
// recipients); `content[i]` null means recipient i is not sent in this attempt.
std::vector<DeliveryJob> plan_jobs(const std::shared_ptr<Attempt>& attempt,
                                   const config::Config& config,
                                   const std::vector<std::shared_ptr<const std::string>>& content);

}  // namespace seegw::relay
