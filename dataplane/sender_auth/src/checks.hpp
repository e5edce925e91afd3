// The parts of SenderCheck, each over the gateway's resolver: the DNS SPF and DMARC ask,
// libopendkim's verifier, libopendmarc's policy evaluation.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/dns/resolver.hpp"
#include "seegw/sender_auth/spf.hpp"
#include "seegw/sender_auth/verdict.hpp"

struct dkim_lib;  // libopendkim's DKIM_LIB

namespace seegw::sender_auth::detail {

using Deadline = std::chrono::steady_clock::time_point;

// SPF's and DMARC's DNS: the validating resolver, a bogus answer an error, a deadline.
class ResolverDns final : public SpfDns {
 public:
  ResolverDns(dns::Resolver& resolver, Deadline deadline)
      : resolver_(resolver), deadline_(deadline) {}
  SpfAnswer txt(const std::string& name) override;
  SpfAnswer addresses(const std::string& name, bool ipv6) override;
  SpfAnswer mx(const std::string& name) override;
  SpfAnswer ptr(const std::string& name) override;
  bool in_time() override { return std::chrono::steady_clock::now() < deadline_; }

 private:
  SpfAnswer ask(const std::string& name, dns::RrType type);
  dns::Resolver& resolver_;
  Deadline deadline_;
};

class DkimVerifier {
 public:
  static Result<std::unique_ptr<DkimVerifier>> create(dns::Resolver& resolver);
  ~DkimVerifier();
  // Every DKIM-Signature's result, in the order of the fields (none: no signature).
  std::vector<DkimOutcome> verify(std::string_view message, Deadline deadline);

 private:
  explicit DkimVerifier(dkim_lib* lib) : lib_(lib) {}
  dkim_lib* lib_;
};

// libopendmarc's process-wide state (the public suffix list), made once.
Result<void> start_dmarc(const std::filesystem::path& public_suffix_list);
// RFC 7489 §6.6: the From domain's (or its organizational domain's) record, alignment, p= or
// sp=. pct= is applied by the caller.
DmarcOutcome check_dmarc(const std::string& from_domain, const std::string& client_address,
                         const SpfOutcome& spf, const std::vector<DkimOutcome>& dkim,
                         ResolverDns& dns, int& pct);

}  // namespace seegw::sender_auth::detail
