// The queue manager: decides when each spooled message is tried, moves it between the spool's
// states, retries with exponential backoff, sends delay notices and bounces. It alone changes a
// message's state after it is accepted, on its own thread, so the spool needs no locks.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <queue>
#include <thread>
#include <vector>

#include <tbb/task_group.h>

#include "seegw/config/config.hpp"
#include "seegw/relay/attempt.hpp"
#include "seegw/seemail/stage.hpp"
#include "seegw/seemail/trust_source.hpp"
#include "seegw/spool/spool.hpp"

namespace seegw::relay {

class DkimSigning;
class WaitingThreads;

struct QueueStats {
  std::size_t accepted = 0, delivered = 0, deferred = 0, bounced = 0, corrupt = 0;
  std::size_t blocked = 0, held = 0, answered = 0, generated = 0;
};

// A message in the hold queue, for the administrator (OUT-8).
struct HeldMessage {
  spool::QueueId id;
  std::int64_t arrival = 0;
  std::string sender;
  std::vector<std::string> recipients;
  std::string reason;
};

// A message waiting for delivery, for `show queue`.
struct WaitingMessage {
  spool::QueueId id;
  std::string state;  // active (being delivered) or deferred
  std::int64_t arrival = 0;
  std::int64_t next_attempt = 0;  // deferred only
  std::string sender;
  std::vector<std::string> recipients;
  std::string last_error;
};

class QueueManager {
 public:
  using Clock = std::chrono::system_clock;
  // How a planned job reaches an I/O loop (thread-safe).
  using Dispatch = std::function<void(DeliveryJob)>;

  QueueManager(const config::Config& config, spool::Spool& spool, seemail::Stage& stage,
               const seemail::TrustSource& trust, Dispatch dispatch);
  ~QueueManager();

  // Recovers every state from the spool and starts the manager's thread.
  void start();
  // OPS-1: while this says no, messages stay where they are on disk and nothing is sent.
  void set_operational(std::function<bool()> operational) { operational_ = std::move(operational); }
  // §2.8: the pipeline tells of a certificate held mail waits for (a domain) and of one learnt
  // from mail (IN-4). Called on the pipeline's threads; set before start().
  struct CertificateEvents {
    std::function<void(const std::string& domain)> wanted = [](const std::string&) {};
    std::function<void()> learnt = [] {};
  };
  void set_certificate_events(CertificateEvents events) { certificate_events_ = std::move(events); }
  // Outbound mail from our domains is DKIM-signed after the SEEMail stage; set before start().
  void set_dkim(DkimSigning* dkim) { dkim_ = dkim; }
  // Direct delivery ([relay] outbound_host = "mx"): a domain's mail exchangers' addresses, most
  // preferred first (blocking: called on `threads` threads of the manager's own, never on the
  // TBB pool). Set before start().
  using MxLookup = std::function<Result<std::vector<config::Exchanger>>(const std::string& domain)>;
  void set_mx_lookup(MxLookup lookup, std::size_t threads = 8);
  void stop();
  // A message is on stable storage in incoming/ (thread-safe).
  void accepted(spool::SpoolRecord record);
  QueueStats stats();
  // Messages in incoming, active or deferred not yet finished (for tests and shutdown).
  std::size_t in_flight();

  // Administrator's operations on the hold queue (thread-safe; they run on the manager's thread).
  // Release sends the message through the whole pipeline again: if the problem is not repaired,
  // the policy holds it again (fail closed).
  std::vector<HeldMessage> held();
  Result<void> release(const spool::QueueId& id);
  Result<void> remove_held(const spool::QueueId& id);
  // §2.8 "Success: pass message through": every message held only for want of certificates
  // whose recipients' domains are now `usable` goes through the pipeline again (thread-safe;
  // runs on the manager's thread later).
  void release_awaiting(std::function<bool(const std::string& domain)> usable);
  // Retries a deferred message now.
  Result<void> requeue(const spool::QueueId& id);
  std::vector<WaitingMessage> waiting();
  // Stores a message the gateway itself sends (a console `ping`) and sends it like any other.
  void inject(seemail::GeneratedMessage message, const spool::QueueId& about);
  // Which rule decided what for a recent message, and why (kept for the last 10,000).
  std::vector<std::string> explain(const spool::QueueId& id);

 private:
  struct Due {
    std::int64_t when;
    spool::QueueId id;
    bool operator>(const Due& o) const { return when != o.when ? when > o.when : id > o.id; }
  };

  void run();
  void post(std::function<void()> event);
  void recover();
  void activate(spool::Queue from, spool::SpoolRecord record);
  void start_attempt(spool::SpoolRecord record);
  void quarantine(spool::SpoolRecord record);
  void sign_outbound(Attempt& attempt, std::vector<std::shared_ptr<const std::string>>& content);
  // A job for a domain's mail exchangers gets their addresses; false when it cannot (it then
  // failed with the reason: 5xx for a domain that takes no mail, 4xx to try later).
  bool route_to_exchangers(DeliveryJob& job);
  void finished(const std::shared_ptr<Attempt>& attempt);
  // False when the notice could not be stored (the caller keeps the recipients queued).
  bool send_notice(const spool::SpoolRecord& original,
                   const std::vector<smtp::RecipientResult>& recipients, bool failed);
  void retire(const spool::QueueId& id);
  void defer(spool::SpoolRecord next);
  // True when no recipient is held, or the hold queue has those that are.
  bool hold(const spool::SpoolRecord& record, const std::vector<smtp::RecipientResult>& results,
            const std::vector<seemail::Disposition>& dispositions);
  // Hold → incoming → the pipeline, on the manager's thread.
  Result<void> release_from_hold(spool::SpoolRecord record, std::string_view why);
  // False when the message could not be stored.
  bool spool_generated(seemail::GeneratedMessage message, const spool::QueueId& about);
  void remember(const spool::QueueId& id, std::vector<std::string> lines);
  // Runs `work` on the manager's thread and waits for it.
  template <typename T>
  T on_manager_thread(std::function<T()> work);
  void schedule_due();
  void defer_until(const spool::QueueId& id, std::int64_t when);

  const config::Config& config_;
  spool::Spool& spool_;
  seemail::Stage& stage_;
  const seemail::TrustSource& trust_;
  Dispatch dispatch_;
  std::function<bool()> operational_ = [] { return true; };
  CertificateEvents certificate_events_;
  DkimSigning* dkim_ = nullptr;
  MxLookup mx_lookup_;
  std::unique_ptr<WaitingThreads> lookups_;
  tbb::task_group pipeline_;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<std::function<void()>> events_;
  bool stopping_ = false;
  QueueStats stats_;
  std::size_t in_flight_ = 0;
  std::thread thread_;
  std::map<spool::QueueId, std::vector<std::string>> explanations_;  // guarded by mutex_
  std::deque<spool::QueueId> explanation_order_;

  // Owned by the manager's thread.
  std::priority_queue<Due, std::vector<Due>, std::greater<>> deferred_;
  std::map<spool::QueueId, std::int64_t> due_at_;  // the one live entry of each deferred message
  std::vector<std::pair<spool::Queue, spool::SpoolRecord>> suspended_;  // waiting for OPS-1
  // State changes the spool could not make (a full disk): tried again at every scan.
  std::vector<spool::SpoolRecord> undeferred_;                        // still in active/
  std::vector<std::pair<spool::Queue, spool::SpoolRecord>> unmoved_;  // not yet in active/
};

}  // namespace seegw::relay
