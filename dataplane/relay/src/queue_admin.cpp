// The queue manager's operations for the administrator (Postfix's postsuper and postqueue): the
// hold queue listed, released (by hand, or by itself when a certificate arrives), deleted; a
// deferred message retried now; what waits; why a message went as it did. Each runs on the
// manager's thread and waits for it.
#include "seegw/relay/queue_manager.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <future>

#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/policy/policy.hpp"
#include "seegw/scan/inspector.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::relay {

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
  record.quarantined = false;  // the administrator (or the certificate) decided
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
