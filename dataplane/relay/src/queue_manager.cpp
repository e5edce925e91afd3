#include "seegw/relay/queue_manager.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>

#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/policy/policy.hpp"
#include "seegw/relay/dsn.hpp"
#include "seegw/scan/inspector.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::relay {

QueueManager::QueueManager(const config::Config& config, spool::Spool& spool,
                           const scan::Matcher& matcher, seemail::Processor& processor,
                           TrustSource trust, Dispatch dispatch)
    : config_(config),
      spool_(spool),
      matcher_(matcher),
      processor_(processor),
      trust_(std::move(trust)),
      dispatch_(std::move(dispatch)) {}

QueueManager::~QueueManager() { stop(); }

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
  for (auto& summary : processor_.due_summaries(spool::unix_now()))
    spool_generated(std::move(summary), "-");
  if (!suspended_.empty() && operational_()) {
    auto resumed = std::exchange(suspended_, {});
    log::notice("queue: resuming {} suspended messages", resumed.size());
    for (auto& [from, record] : resumed) activate(from, std::move(record));
  }
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
  if (from != spool::Queue::active) {
    if (auto moved = spool_.move(record.id, from, spool::Queue::active); !moved) {
      // Fail closed: the message stays where it is and is retried at the next scan.
      log::error("queue: {}", moved.error().message);
      record.next_attempt = spool::unix_now() + config_.retry_base.count();
      if (from == spool::Queue::deferred) defer_until(record.id, record.next_attempt);
      return;
    }
  }
  start_attempt(std::move(record));
}

// The per-message task chain on the TBB pool: scan → SEEMail (decide, transform) → plan (route)
// → dispatch to the I/O loops.
void QueueManager::start_attempt(spool::SpoolRecord record) {
  auto attempt = std::make_shared<Attempt>();
  attempt->record = std::move(record);
  attempt->results.resize(attempt->record.recipients.size());
  attempt->policy_end.resize(attempt->record.recipients.size(), PolicyEnd::none);
  attempt->on_done = [this](std::shared_ptr<Attempt> a) {
    post([this, a = std::move(a)] { finished(a); });
  };
  pipeline_.run([this, attempt] {
    attempt->scan = scan::inspect_message(*attempt->record.content, matcher_);
    const auto& report = attempt->scan;
    if (report.classification != scan::Classification::none || !report.uninspectable.empty()) {
      log::info("scan: {} classification={} hits={} uninspectable={}{}", attempt->record.id,
                scan::classification_name(report.classification), report.hits.size(),
                report.uninspectable.size(),
                report.hits.empty() ? std::string()
                                    : fmt::format(" first=\"{}\" in {}", report.hits[0].text,
                                                  report.hits[0].where));
    }
    auto& rec = attempt->record;
    auto outcome = processor_.process(rec, report, *trust_(), spool::unix_now());
    for (const auto& line : outcome.explanation)
      log::info("policy: {} from=<{}> {}", rec.id, rec.envelope.mail_from, line);
    std::vector<std::shared_ptr<const std::string>> content(rec.recipients.size());
    for (std::size_t i = 0; i < outcome.recipients.size() && i < content.size(); ++i) {
      auto& o = outcome.recipients[i];
      const std::string& rcpt = rec.recipients[i].address;
      switch (o.disposition) {
        case seemail::Disposition::deliver:
          content[i] = o.content;
          break;
        case seemail::Disposition::blocked:
        case seemail::Disposition::answered:
          attempt->results[i] = {rcpt, kFinishedByPolicy, o.reason};
          attempt->policy_end[i] = o.disposition == seemail::Disposition::blocked
                                       ? PolicyEnd::blocked
                                       : PolicyEnd::answered;
          break;
        case seemail::Disposition::hold:
          attempt->held.emplace_back(i, o.reason);
          attempt->held_awaits_certificate =
              attempt->held_awaits_certificate && o.awaits_certificate;
          attempt->results[i] = {rcpt, kFinishedByPolicy, o.reason};
          attempt->policy_end[i] = PolicyEnd::held;
          break;
        case seemail::Disposition::defer:
          attempt->results[i] = {rcpt, 451, "4.3.0 " + o.reason};
          break;
      }
    }
    remember(rec.id, std::move(outcome.explanation));
    for (const auto& domain : outcome.certificates_wanted) certificate_events_.wanted(domain);
    if (outcome.certificate_learnt) certificate_events_.learnt();
    if (!outcome.generated.empty())
      post([this, id = rec.id, generated = std::move(outcome.generated)]() mutable {
        for (auto& g : generated) spool_generated(std::move(g), id);
      });
    auto jobs = plan_jobs(attempt, config_, content);
    attempt->jobs_left = jobs.size();
    if (jobs.empty()) {
      attempt->on_done(attempt);
      return;
    }
    for (auto& job : jobs) dispatch_(std::move(job));
  });
}

void QueueManager::finished(const std::shared_ptr<Attempt>& attempt) {
  auto& record = attempt->record;
  const std::int64_t now = spool::unix_now();
  const bool expired = now - record.arrival >= config_.max_queue_lifetime.count();
  std::vector<smtp::RecipientResult> failed, delayed;
  std::vector<spool::PendingRecipient> remaining;
  std::size_t delivered = 0;
  std::size_t blocked = 0, answered = 0;
  // Held recipients are finished only once the hold queue has them; if it cannot be written they
  // stay queued like a temporary failure (nothing is lost).
  if (!attempt->held.empty() && !hold(record, attempt->held, attempt->held_awaits_certificate)) {
    for (const auto& [i, reason] : attempt->held) {
      attempt->results[i] = {record.recipients[i].address, 451, "4.3.0 not held: " + reason};
      attempt->policy_end[i] = PolicyEnd::none;
    }
  }
  for (std::size_t i = 0; i < attempt->results.size(); ++i) {
    const auto& r = attempt->results[i];
    const PolicyEnd end = attempt->policy_end[i];
    if (end != PolicyEnd::none) {
      if (end == PolicyEnd::blocked) ++blocked;
      if (end == PolicyEnd::answered) ++answered;
      log::info("queue: {} to=<{}> status={} ({})", record.id, r.rcpt,
                end == PolicyEnd::held      ? "held"
                : end == PolicyEnd::blocked ? "blocked"
                                            : "answered",
                r.reply);
    } else if (r.code / 100 == 2) {
      ++delivered;
      log::info("queue: {} to=<{}> status=sent ({} {})", record.id, r.rcpt, r.code, r.reply);
    } else if (r.code >= 500 || expired) {
      failed.push_back(r);
      log::notice("queue: {} to=<{}> status=bounced ({} {})", record.id, r.rcpt, r.code, r.reply);
    } else {
      delayed.push_back(r);
      remaining.push_back({r.rcpt, fmt::format("{} {}", r.code, r.reply)});
      log::info("queue: {} to=<{}> status=deferred ({} {})", record.id, r.rcpt, r.code, r.reply);
    }
  }
  // The notice is on stable storage before the original leaves: nothing is lost in between.
  // If it cannot be stored, the failed recipients stay queued and the bounce is tried again.
  if (!failed.empty() && !send_notice(record, failed, true)) {
    for (const auto& r : failed)
      remaining.push_back({r.rcpt, fmt::format("{} {}", r.code, r.reply)});
    failed.clear();
  }

  if (remaining.empty()) {
    retire(record.id);
    std::lock_guard lock(mutex_);
    stats_.delivered += delivered;
    stats_.bounced += failed.size();
    stats_.blocked += blocked;
    stats_.answered += answered;
    --in_flight_;
    return;
  }
  const bool warn = !record.delay_notified && now - record.arrival >= config_.delay_warning.count();
  if (warn) send_notice(record, delayed, false);

  spool::SpoolRecord next = record;
  next.recipients = std::move(remaining);
  next.attempts += 1;
  next.delay_notified = record.delay_notified || warn;
  const auto shift = std::min<std::uint32_t>(next.attempts - 1, 20);
  const std::int64_t backoff =
      std::min<std::int64_t>(config_.retry_base.count() << shift, config_.retry_max.count());
  next.next_attempt = now + std::max<std::int64_t>(backoff, 1);
  next.reason = next.recipients.front().last_error;
  if (auto written = spool_.write(spool::Queue::deferred, next); !written) {
    // The active copy is still intact; recovery or the next scan retries it.
    log::error("queue: {} could not be deferred: {}", record.id, written.error().message);
  } else {
    (void)spool_.remove(spool::Queue::active, record.id);
  }
  defer_until(next.id, next.next_attempt);
  std::lock_guard lock(mutex_);
  stats_.delivered += delivered;
  stats_.bounced += failed.size();
  stats_.blocked += blocked;
  stats_.answered += answered;
  ++stats_.deferred;
}

void QueueManager::retire(const spool::QueueId& id) {
  if (config_.keep_done.count() > 0) {
    if (auto moved = spool_.move(id, spool::Queue::active, spool::Queue::done); !moved)
      log::error("queue: {}", moved.error().message);
  } else if (auto removed = spool_.remove(spool::Queue::active, id); !removed) {
    log::error("queue: {}", removed.error().message);
  }
}

bool QueueManager::send_notice(const spool::SpoolRecord& original,
                               const std::vector<smtp::RecipientResult>& recipients, bool failed) {
  // RFC 5321 §4.5.5 (null sender) and OPS-2: nothing goes to a postmaster or a daemon, bounces
  // included — another agency's postmaster answering its own bounce is how loops start.
  if (policy::is_postmaster_or_daemon(original.envelope.mail_from)) {
    log::notice("queue: {} sender <{}> is a postmaster, a daemon or the null sender; no {} notice",
                original.id, original.envelope.mail_from, failed ? "bounce" : "delay");
    return true;
  }
  NoticeContext context{config_.hostname, config_.domain, Clock::now(),
                        Clock::from_time_t(original.arrival) + config_.max_queue_lifetime};
  spool::SpoolRecord notice;
  notice.id = spool_.ids().next();
  notice.arrival = spool::unix_now();
  notice.envelope.client_address = "127.0.0.1";
  notice.envelope.client_internal = true;
  notice.envelope.helo = config_.hostname;
  notice.envelope.mail_from = "";
  notice.recipients.push_back({original.envelope.mail_from, ""});
  notice.content = std::make_shared<const std::string>(delivery_notice(
      original, recipients, failed ? NoticeKind::failed : NoticeKind::delayed, context));
  if (auto written = spool_.write(spool::Queue::incoming, notice); !written) {
    log::error("queue: notice for {} not stored: {}", original.id, written.error().message);
    return false;
  }
  log::info("queue: {} {} notice {} to <{}>", original.id, failed ? "bounce" : "delay", notice.id,
            original.envelope.mail_from);
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  activate(spool::Queue::incoming, std::move(notice));
  return true;
}

// OUT-8: the held recipients go to the hold queue with the reason, before the active copy is
// retired (a crash in between holds the message twice at worst, never loses it). When every
// recipient is held the message keeps its ID; otherwise the held part gets a new one.
bool QueueManager::hold(const spool::SpoolRecord& record,
                        const std::vector<std::pair<std::size_t, std::string>>& held,
                        bool awaits_certificate) {
  spool::SpoolRecord h = record;
  h.awaits_certificate = awaits_certificate;
  h.recipients.clear();
  for (const auto& [i, reason] : held)
    h.recipients.push_back({record.recipients[i].address, reason});
  if (held.size() != record.recipients.size()) h.id = spool_.ids().next();
  h.reason = held.front().second;
  h.next_attempt = 0;
  if (auto written = spool_.write(spool::Queue::hold, h); !written) {
    // The active copy stays; the next scan or recovery decides again.
    log::error("queue: {} could not be held: {}", record.id, written.error().message);
    return false;
  }
  {
    std::lock_guard lock(mutex_);
    ++stats_.held;
  }
  log::warning("queue: {} held{} for {} recipient(s): {}", record.id,
               h.id == record.id ? "" : " as " + h.id, h.recipients.size(), h.reason);
  return true;
}

void QueueManager::spool_generated(seemail::GeneratedMessage message, const spool::QueueId& about) {
  spool::SpoolRecord r;
  r.id = spool_.ids().next();
  r.arrival = spool::unix_now();
  r.envelope.client_address = "127.0.0.1";
  r.envelope.client_internal = true;  // our own message: the outbound rules apply to it
  r.envelope.helo = config_.hostname;
  // Notices use the null reverse-path: they can never cause a bounce loop.
  r.envelope.mail_from = message.envelope_sender;
  r.secured_by_gateway = message.secured_by_gateway;
  for (auto& to : message.recipients) r.recipients.push_back({to, ""});
  r.content = std::make_shared<const std::string>(std::move(message.content));
  if (auto written = spool_.write(spool::Queue::incoming, r); !written) {
    log::error("queue: {} for {} not stored: {}", message.what, about, written.error().message);
    return;
  }
  log::info("queue: {} {} as {}", about, message.what, r.id);
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
    ++stats_.generated;
  }
  activate(spool::Queue::incoming, std::move(r));
}

void QueueManager::remember(const spool::QueueId& id, std::vector<std::string> lines) {
  std::lock_guard lock(mutex_);
  auto [it, inserted] = explanations_.try_emplace(id);
  if (inserted) explanation_order_.push_back(id);
  it->second.push_back(fmt::format("attempt at {}:", spool::unix_now()));
  for (auto& l : lines) it->second.push_back("  " + std::move(l));
  while (explanation_order_.size() > 10000) {
    explanations_.erase(explanation_order_.front());
    explanation_order_.pop_front();
  }
}

std::vector<std::string> QueueManager::explain(const spool::QueueId& id) {
  std::vector<std::string> out;
  {
    std::lock_guard lock(mutex_);
    if (auto it = explanations_.find(id); it != explanations_.end()) out = it->second;
  }
  if (auto h = spool_.load(spool::Queue::hold, id)) out.push_back("held now: " + h->reason);
  return out;
}

template <typename T>
T QueueManager::on_manager_thread(std::function<T()> work) {
  auto promise = std::make_shared<std::promise<T>>();
  auto future = promise->get_future();
  post([promise, work = std::move(work)] { promise->set_value(work()); });
  if (future.wait_for(std::chrono::seconds(30)) != std::future_status::ready)
    return fail(Errc::unavailable, "the queue manager did not answer (shutting down?)");
  return future.get();
}

std::vector<HeldMessage> QueueManager::held() {
  std::vector<HeldMessage> out;
  for (const auto& id : spool_.list(spool::Queue::hold).value_or(std::vector<spool::QueueId>{})) {
    auto r = spool_.load(spool::Queue::hold, id);
    if (!r) continue;
    HeldMessage h{r->id, r->arrival, r->envelope.mail_from, {}, r->reason};
    for (const auto& p : r->recipients) h.recipients.push_back(p.address);
    out.push_back(std::move(h));
  }
  return out;
}

Result<void> QueueManager::release(const spool::QueueId& id) {
  return on_manager_thread<Result<void>>([this, id]() -> Result<void> {
    auto record = spool_.load(spool::Queue::hold, id);
    if (!record) return fail(Errc::not_found, fmt::format("{} is not in the hold queue", id));
    return release_from_hold(std::move(*record), "by the administrator");
  });
}

Result<void> QueueManager::release_from_hold(spool::SpoolRecord record, std::string_view why) {
  const spool::QueueId id = record.id;
  record.reason.clear();
  record.awaits_certificate = false;
  for (auto& r : record.recipients) r.last_error.clear();
  if (auto w = spool_.write(spool::Queue::incoming, record); !w) return w;
  if (auto removed = spool_.remove(spool::Queue::hold, id); !removed) return removed;
  log::notice("queue: {} released from hold {}", id, why);
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
  }
  activate(spool::Queue::incoming, std::move(record));
  return {};
}

void QueueManager::release_awaiting(std::function<bool(const std::string& domain)> usable) {
  post([this, usable = std::move(usable)] {
    for (const auto& id : spool_.list(spool::Queue::hold).value_or(std::vector<spool::QueueId>{})) {
      auto record = spool_.load(spool::Queue::hold, id);
      if (!record || !record->awaits_certificate) continue;
      const bool ready = std::all_of(
          record->recipients.begin(), record->recipients.end(),
          [&](const auto& r) { return usable(ascii_lower(smtp::domain_of(r.address))); });
      if (!ready) continue;
      if (auto released = release_from_hold(std::move(*record),
                                            "by itself: the certificate it waited for is here");
          !released)
        log::error("queue: {} stays held: {}", id, released.error().message);
    }
  });
}

Result<void> QueueManager::requeue(const spool::QueueId& id) {
  return on_manager_thread<Result<void>>([this, id]() -> Result<void> {
    auto it = due_at_.find(id);
    if (it == due_at_.end())
      return fail(Errc::not_found, fmt::format("{} is not waiting in the deferred queue", id));
    defer_until(id, spool::unix_now());
    log::notice("queue: {} requeued by the administrator", id);
    schedule_due();
    return {};
  });
}

std::vector<WaitingMessage> QueueManager::waiting() {
  std::vector<WaitingMessage> out;
  for (auto queue : {spool::Queue::incoming, spool::Queue::active, spool::Queue::deferred}) {
    for (const auto& id : spool_.list(queue).value_or(std::vector<spool::QueueId>{})) {
      auto r = spool_.load(queue, id);
      if (!r) continue;  // finished while we looked
      WaitingMessage w{r->id,
                       queue == spool::Queue::deferred ? "deferred" : "active",
                       r->arrival,
                       queue == spool::Queue::deferred ? r->next_attempt : 0,
                       r->envelope.mail_from,
                       {},
                       {}};
      for (const auto& p : r->recipients) {
        w.recipients.push_back(p.address);
        if (!p.last_error.empty()) w.last_error = p.last_error;
      }
      out.push_back(std::move(w));
    }
  }
  return out;
}

void QueueManager::inject(seemail::GeneratedMessage message, const spool::QueueId& about) {
  post([this, message = std::move(message), about]() mutable {
    spool_generated(std::move(message), about);
  });
}

Result<void> QueueManager::remove_held(const spool::QueueId& id) {
  return on_manager_thread<Result<void>>([this, id]() -> Result<void> {
    if (!spool_.load(spool::Queue::hold, id))
      return fail(Errc::not_found, fmt::format("{} is not in the hold queue", id));
    if (auto removed = spool_.remove(spool::Queue::hold, id); !removed) return removed;
    log::notice("queue: {} deleted from hold by the administrator", id);
    return {};
  });
}

}  // namespace seegw::relay
