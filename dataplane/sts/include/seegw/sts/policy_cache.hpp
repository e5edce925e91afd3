// MTA-STS policies as a sending MTA keeps them (RFC 8461 §5): the TXT record's id says whether
// the cached policy is current; a new id (or none cached) fetches the policy over HTTPS, its
// certificate verified, no redirects, a size and a time limit; a policy stays in force for its
// max_age even while the domain's DNS or web server is away; a failed fetch is tried again after
// five minutes (or at once for a new id). Thread-safe; blocking (the queue manager's waiting
// threads).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>

#include "seegw/dns/resolver.hpp"
#include "seegw/sts/policy.hpp"

namespace seegw::sts {

struct FetchSettings {
  std::string ca_file;             // "": the system's CA certificates
  std::uint16_t https_port = 443;  // where mta-sts.DOMAIN serves it (tests move it)
  std::chrono::seconds timeout{10};
};

class PolicyCache {
 public:
  PolicyCache(dns::Resolver& resolver, FetchSettings settings)
      : resolver_(resolver), settings_(std::move(settings)) {}

  // The policy in force for `domain`, or none. `note` says what happened when it is worth a
  // log line (a failed fetch, a policy that did not parse).
  std::optional<Policy> policy_for(const std::string& domain, std::string& note);

 private:
  struct Entry {
    std::string id;
    Policy policy;
    std::chrono::steady_clock::time_point expires;
  };
  Result<Policy> fetch(const std::string& domain);
  // A fetch that failed (an unreachable, slow or broken policy server) is not tried again for
  // the same id before `retry`: each attempt could hold a pipeline thread for the whole timeout.
  struct Failure {
    std::string id, why;
    std::chrono::steady_clock::time_point retry;
  };
  std::optional<std::string> failed_recently(const std::string& domain, const std::string& id,
                                             std::chrono::steady_clock::time_point now);

  dns::Resolver& resolver_;
  const FetchSettings settings_;
  std::mutex mutex_;
  std::map<std::string, Entry> cache_;
  std::map<std::string, Failure> failed_;
};

}  // namespace seegw::sts
