// What the queue manager does when an attempt is done (Postfix's qmgr_deliver/qmgr_defer): each
// recipient delivered, bounced, deferred, held or finished by the policy; the record retired,
// rewritten into deferred/ or held; and the gateway's own messages — bounces, delay notices and
// what the SEEMail stage generated — spooled. On the manager's thread.
#include "seegw/relay/queue_manager.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>

#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/policy/policy.hpp"
#include "seegw/scan/inspector.hpp"
#include "seegw/seemail/internal_messages.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::relay {

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
  auto& dispositions = attempt->dispositions;
  if (!hold(record, attempt->results, dispositions)) {
    for (std::size_t i = 0; i < dispositions.size(); ++i) {
      if (!seemail::is_hold(dispositions[i])) continue;
      auto& r = attempt->results[i];
      r = {r.rcpt, 451, "4.3.0 not held: " + r.reply};
      dispositions[i] = seemail::Disposition::defer;
    }
  }
  for (std::size_t i = 0; i < attempt->results.size(); ++i) {
    const auto& r = attempt->results[i];
    const auto d = i < dispositions.size() ? dispositions[i] : seemail::Disposition::deliver;
    if (d != seemail::Disposition::deliver && d != seemail::Disposition::defer) {
      if (d == seemail::Disposition::blocked) ++blocked;
      if (d == seemail::Disposition::answered) ++answered;
      log::info("queue: {} to=<{}> status={} ({})", record.id, r.rcpt,
                seemail::is_hold(d) ? "held" : seemail::disposition_name(d), r.reply);
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
  defer(std::move(next));
  std::lock_guard lock(mutex_);
  stats_.delivered += delivered;
  stats_.bounced += failed.size();
  stats_.blocked += blocked;
  stats_.answered += answered;
  ++stats_.deferred;
}

// active/ → deferred/ with what is left to do. A state change that fails (a full disk) leaves the
// message in active/, intact, and is tried again at every scan until it succeeds — never a
// schedule entry for a file that is not there.
void QueueManager::defer(spool::SpoolRecord next) {
  if (auto written = spool_.write(spool::Queue::deferred, next); !written) {
    log::error("queue: {} could not be deferred (it stays in active/ and is tried again): {}",
               next.id, written.error().message);
    undeferred_.push_back(std::move(next));
    return;
  }
  (void)spool_.remove(spool::Queue::active, next.id);
  defer_until(next.id, next.next_attempt);
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
  seemail::DeliveryNoticeContext context{
      config_.hostname, config_.domain, Clock::now(),
      Clock::from_time_t(original.arrival) + config_.max_queue_lifetime};
  seemail::GeneratedMessage notice;
  notice.recipients = {original.envelope.mail_from};
  notice.what =
      fmt::format("{} notice to <{}>", failed ? "bounce" : "delay", original.envelope.mail_from);
  notice.content = seemail::delivery_notice(
      original, recipients,
      failed ? seemail::DeliveryNoticeKind::failed : seemail::DeliveryNoticeKind::delayed, context);
  return spool_generated(std::move(notice), original.id);
}

// OUT-8: the held recipients go to the hold queue with the reason, before the active copy is
// retired (a crash in between holds the message twice at worst, never loses it). When every
// recipient is held the message keeps its ID; otherwise the held part gets a new one.
bool QueueManager::hold(const spool::SpoolRecord& record,
                        const std::vector<smtp::RecipientResult>& results,
                        const std::vector<seemail::Disposition>& dispositions) {
  spool::SpoolRecord h = record;
  h.recipients.clear();
  // Released by itself only when every held recipient waits for nothing but a certificate.
  h.awaits_certificate = true;
  for (std::size_t i = 0; i < dispositions.size(); ++i) {
    if (!seemail::is_hold(dispositions[i])) continue;
    h.recipients.push_back({record.recipients[i].address, results[i].reply});
    h.awaits_certificate =
        h.awaits_certificate && dispositions[i] == seemail::Disposition::hold_for_certificate;
  }
  if (h.recipients.empty()) return true;
  if (h.recipients.size() != record.recipients.size()) h.id = spool_.ids().next();
  h.reason = h.recipients.front().last_error;
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

// Every message the gateway writes (seemail/internal_messages.hpp) is stored here, then sent like
// mail from an internal client: the outbound rules apply to it.
bool QueueManager::spool_generated(seemail::GeneratedMessage message, const spool::QueueId& about) {
  spool::SpoolRecord r;
  r.id = spool_.ids().next();
  r.arrival = spool::unix_now();
  r.envelope.client_address = "127.0.0.1";
  r.envelope.client_internal = true;
  r.envelope.helo = config_.hostname;
  // Notices use the null reverse-path: they can never cause a bounce loop.
  r.envelope.mail_from = message.envelope_sender;
  r.secured_by_gateway = message.secured_by_gateway;
  for (auto& to : message.recipients) r.recipients.push_back({to, ""});
  r.content = std::make_shared<const std::string>(std::move(message.content));
  if (auto written = spool_.write(spool::Queue::incoming, r); !written) {
    log::error("queue: {} for {} not stored: {}", message.what, about, written.error().message);
    return false;
  }
  log::info("queue: {} {} as {}", about, message.what, r.id);
  {
    std::lock_guard lock(mutex_);
    ++in_flight_;
    ++stats_.generated;
  }
  activate(spool::Queue::incoming, std::move(r));
  return true;
}

}  // namespace seegw::relay
