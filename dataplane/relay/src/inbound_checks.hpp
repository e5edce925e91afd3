// Secure Government Email's inbound checks (SPF, DKIM, DMARC) between the end of DATA and the
// reply: they wait on DNS, so they run on WaitingThreads of their own. Each job's answer comes
// back through `done`, which the session posts to its loop.
#pragma once

#include <array>
#include <atomic>
#include <functional>
#include <memory>

#include "seegw/config/config.hpp"
#include "seegw/sender_auth/sender_check.hpp"
#include "waiting_threads.hpp"

namespace seegw::relay {

class InboundChecks {
 public:
  static Result<std::unique_ptr<InboundChecks>> start(
      const config::Config& config, dns::Resolver& resolver,
      std::function<bool(const std::string& from_domain, std::string_view message)>
          judged_by_smime);
  ~InboundChecks() { threads_.reset(); }

  struct Job {
    sender_auth::MessageFacts facts;
    std::shared_ptr<const std::string> content;
    std::function<void(sender_auth::Verdict)> done;  // on a check thread
  };
  void submit(Job job);
  // For `status`: how many were checked since start, by what happened to them.
  std::string counts() const;

 private:
  InboundChecks() = default;

  std::unique_ptr<sender_auth::SenderCheck> check_;
  std::unique_ptr<WaitingThreads> threads_;  // destroyed first: the checks use check_
  std::array<std::atomic<std::uint64_t>, 4> by_disposition_{};  // sender_auth::Disposition order
};

// The Authentication-Results field we add (RFC 8601), in our authserv-id.
std::string authentication_results(const config::Config& config, const smtp::Envelope& envelope,
                                   const sender_auth::Verdict& verdict);
// One log line: what each method said and what was done.
std::string verdict_summary(const sender_auth::Verdict& verdict);

}  // namespace seegw::relay
