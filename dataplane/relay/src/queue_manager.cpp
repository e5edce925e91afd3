#include "seegw/relay/queue_manager.hpp"

#include "waiting_threads.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>

#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/policy/policy.hpp"
#include "seegw/relay/dkim_signing.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::relay {

QueueManager::QueueManager(const config::Config& config, spool::Spool& spool, seemail::Stage& stage,
                           const seemail::TrustSource& trust, Dispatch dispatch)
    : config_(config),
      spool_(spool),
      stage_(stage),
      trust_(trust),
      dispatch_(std::move(dispatch)) {}

QueueManager::~QueueManager() { stop(); }

void QueueManager::set_mx_lookup(MxLookup lookup, std::size_t threads) {
  mx_lookup_ = std::move(lookup);
  lookups_ = std::make_unique<WaitingThreads>(threads);
}

void QueueManager::start() {
  recover();
  thread_ = std::thread([this] { run(); });
}

void QueueManager::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return;
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  pipeline_.wait();
  lookups_.reset();  // a job still waiting stays in active/: recovery sends it
}

void QueueManager::post(std::function<void()> event) {
  {
    std::lock_guard lock(mutex_);
    events_.push_back(std::move(event));
  }
  wake_.notify_one();
}

void QueueManager::accepted(spool::SpoolRecord record) {
  {
    std::lock_guard lock(mutex_);
    ++stats_.accepted;
    ++in_flight_;
  }
  post([this, r = std::move(record)]() mutable { activate(spool::Queue::incoming, std::move(r)); });
}

QueueStats QueueManager::stats() {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::size_t QueueManager::in_flight() {
  std::lock_guard lock(mutex_);
  return in_flight_;
}

// After a crash every message is in exactly one state directory (or, between a deferral's
// write and the active copy's removal, in two: the deferred copy is the newer one).
void QueueManager::recover() {
  const std::size_t temps = spool_.remove_temporaries();
  if (temps) log::notice("spool: removed {} unacknowledged temporary files", temps);
  auto deferred = spool_.list(spool::Queue::deferred).value_or(std::vector<spool::QueueId>{});
  std::sort(deferred.begin(), deferred.end());
  std::size_t resumed = 0;
  for (auto queue : {spool::Queue::incoming, spool::Queue::active}) {
    for (const auto& id : spool_.list(queue).value_or(std::vector<spool::QueueId>{})) {
      if (queue == spool::Queue::active &&
          std::binary_search(deferred.begin(), deferred.end(), id)) {
        (void)spool_.remove(queue, id);
        continue;
      }
      auto record = spool_.load(queue, id);
      if (!record) {
        spool_.quarantine(queue, id, record.error().message);
        ++stats_.corrupt;
        continue;
      }
      ++in_flight_;
      ++resumed;
      post([this, queue, r = std::move(*record)]() mutable { activate(queue, std::move(r)); });
    }
  }
  for (const auto& id : deferred) {
    auto record = spool_.load(spool::Queue::deferred, id);
    if (!record) {
      spool_.quarantine(spool::Queue::deferred, id, record.error().message);
      ++stats_.corrupt;
      continue;
    }
    ++in_flight_;
    defer_until(id, record->next_attempt);
  }
  if (config_.keep_done.count() == 0) {
    for (const auto& id : spool_.list(spool::Queue::done).value_or(std::vector<spool::QueueId>{}))
      (void)spool_.remove(spool::Queue::done, id);
  }
  log::info("queue: recovered {} to resume, {} deferred, {} corrupt", resumed, deferred.size(),
            stats_.corrupt);
}

void QueueManager::run() {
  auto next_scan = Clock::now();
  while (true) {
    std::vector<std::function<void()>> events;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_scan, [&] { return stopping_ || !events_.empty(); });
      if (stopping_) return;
      events.swap(events_);
    }
    for (auto& e : events) e();
    if (Clock::now() >= next_scan) {
      schedule_due();
      next_scan = Clock::now() + config_.queue_scan_interval;
    }
  }
}

void QueueManager::schedule_due() {
  for (auto& summary : stage_.due_summaries(spool::unix_now()))
    spool_generated(std::move(summary), "-");
  if (!suspended_.empty() && operational_()) {
    auto resumed = std::exchange(suspended_, {});
    log::notice("queue: resuming {} suspended messages", resumed.size());
    for (auto& [from, record] : resumed) activate(from, std::move(record));
  }
  for (auto& next : std::exchange(undeferred_, {})) defer(std::move(next));
  for (auto& [from, record] : std::exchange(unmoved_, {})) activate(from, std::move(record));
  if (!operational_()) return;
  const std::int64_t now = spool::unix_now();
  while (!deferred_.empty() && deferred_.top().when <= now) {
    const Due due = deferred_.top();
    deferred_.pop();
    const spool::QueueId& id = due.id;
    // An entry made stale by `requeue` (the message was due earlier, or again later).
    if (auto it = due_at_.find(id); it == due_at_.end() || it->second != due.when) continue;
    due_at_.erase(id);
    auto record = spool_.load(spool::Queue::deferred, id);
    if (!record) {
      if (record.error().code == Errc::corrupt) {
        spool_.quarantine(spool::Queue::deferred, id, record.error().message);
        std::lock_guard lock(mutex_);
        ++stats_.corrupt;
        --in_flight_;
      } else {
        // Released or deleted by an administrator, or the disk is failing: log and move on.
        log::warning("queue: {} left the deferred queue: {}", id, record.error().message);
        std::lock_guard lock(mutex_);
        --in_flight_;
      }
      continue;
    }
    activate(spool::Queue::deferred, std::move(*record));
  }
}

void QueueManager::defer_until(const spool::QueueId& id, std::int64_t when) {
  deferred_.push(Due{when, id});
  due_at_[id] = when;
}

void QueueManager::activate(spool::Queue from, spool::SpoolRecord record) {
  if (!operational_()) {
    suspended_.emplace_back(from, std::move(record));  // still safe on disk where it is
    return;
  }
  if (record.quarantined && from == spool::Queue::incoming) return quarantine(std::move(record));
  if (from != spool::Queue::active) {
    if (auto moved = spool_.move(record.id, from, spool::Queue::active); !moved) {
      // Fail closed: the message stays where it is and is tried again at the next scan.
      log::error("queue: {} (tried again at the next scan)", moved.error().message);
      unmoved_.emplace_back(from, std::move(record));
      return;
    }
  }
  start_attempt(std::move(record));
}

// Inbound mail its sender's domain wants quarantined (DMARC p=quarantine) goes from incoming to
// the hold queue without being looked at; if that fails it stays in incoming for the next scan.
void QueueManager::quarantine(spool::SpoolRecord record) {
  for (auto& r : record.recipients) r.last_error = record.reason;
  if (auto written = spool_.write(spool::Queue::hold, record); !written) {
    log::error("queue: {} could not be quarantined (tried again at the next scan): {}", record.id,
               written.error().message);
    unmoved_.emplace_back(spool::Queue::incoming, std::move(record));
    return;
  }
  if (auto removed = spool_.remove(spool::Queue::incoming, record.id); !removed)
    log::error("queue: {}", removed.error().message);
  {
    std::lock_guard lock(mutex_);
    ++stats_.held;
    --in_flight_;
  }
  log::warning("queue: {} quarantined in the hold queue: {}", record.id, record.reason);
}

// The per-message task chain on the TBB pool: the SEEMail stage (scan, decide, transform) → plan
// (route) → dispatch to the I/O loops.
void QueueManager::start_attempt(spool::SpoolRecord record) {
  auto attempt = std::make_shared<Attempt>();
  attempt->record = std::move(record);
  attempt->results.resize(attempt->record.recipients.size());
  attempt->on_done = [this](std::shared_ptr<Attempt> a) {
    post([this, a = std::move(a)] { finished(a); });
  };
  pipeline_.run([this, attempt] {
    auto& rec = attempt->record;
    auto plan = stage_.run(rec, *trust_.current(), spool::unix_now());
    for (const auto& line : plan.explanation)
      log::info("policy: {} from=<{}> {}", rec.id, rec.envelope.mail_from, line);
    std::vector<std::shared_ptr<const std::string>> content(rec.recipients.size());
    attempt->dispositions.assign(rec.recipients.size(), seemail::Disposition::defer);
    for (std::size_t i = 0; i < plan.recipients.size() && i < content.size(); ++i) {
      auto& p = plan.recipients[i];
      attempt->dispositions[i] = p.disposition;
      if (p.disposition == seemail::Disposition::deliver)
        content[i] = std::move(p.content);
      else if (p.disposition == seemail::Disposition::defer)
        attempt->results[i] = {rec.recipients[i].address, 451, "4.3.0 " + p.reason};
      else
        attempt->results[i] = {rec.recipients[i].address, kFinishedByPolicy, p.reason};
    }
    remember(rec.id, std::move(plan.explanation));
    for (const auto& domain : plan.certificates_wanted) certificate_events_.wanted(domain);
    if (plan.certificate_learnt) certificate_events_.learnt();
    if (!plan.generated.empty())
      post([this, id = rec.id, generated = std::move(plan.generated)]() mutable {
        for (auto& g : generated) spool_generated(std::move(g), id);
      });
    sign_outbound(*attempt, content);
    auto jobs = plan_jobs(attempt, config_, content);
    attempt->jobs_left = jobs.size();
    if (jobs.empty()) {
      attempt->on_done(attempt);
      return;
    }
    for (auto& job : jobs) {
      if (!job.route.mx || !lookups_) {
        if (route_to_exchangers(job)) dispatch_(std::move(job));
        continue;
      }
      // A domain's exchangers, TLSA records and MTA-STS policy wait on the network.
      lookups_->run([this, job = std::move(job)]() mutable {
        if (route_to_exchangers(job)) dispatch_(std::move(job));
      });
    }
  });
}

bool QueueManager::route_to_exchangers(DeliveryJob& job) {
  if (!job.route.mx) return true;
  const std::string domain = job.route.next_hop.host;
  auto hops =
      mx_lookup_ ? mx_lookup_(domain) : fail(Errc::unavailable, "no resolver for direct delivery");
  if (!hops) {
    const auto& e = hops.error();
    log::warning("relay: {}: {}", domain, e.message);
    if (e.code == Errc::denied)
      job.fail_all(556, "5.1.10 " + e.message);  // RFC 7505
    else if (e.code == Errc::not_found)
      job.fail_all(550, "5.1.2 " + e.message);
    else
      job.fail_all(451, "4.4.3 " + e.message);
    return false;
  }
  job.route.next_hop = hops->front().hop;
  job.route.exchangers = std::move(*hops);
  job.route.mx = false;
  return true;
}

// DKIM after the SEEMail stage; a recipient whose content could not be signed waits like one the
// HSM could not secure (451, retried).
void QueueManager::sign_outbound(Attempt& attempt,
                                 std::vector<std::shared_ptr<const std::string>>& content) {
  if (!dkim_) return;
  std::vector<std::string> deferred(content.size());
  dkim_->sign_outbound(attempt.record, content, deferred);
  for (std::size_t i = 0; i < deferred.size(); ++i) {
    if (deferred[i].empty()) continue;
    attempt.dispositions[i] = seemail::Disposition::defer;
    attempt.results[i] = {attempt.record.recipients[i].address, 451, "4.3.0 " + deferred[i]};
  }
}

}  // namespace seegw::relay
