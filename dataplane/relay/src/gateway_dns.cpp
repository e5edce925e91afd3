// The gateway's DNS for Secure Government Email, one owner: the validating resolver (made at
// first use), direct delivery's mail exchangers with their DANE records, and the MTA-STS policy
// applied to them. Called on the queue manager's waiting threads and the admin thread, never on an
// I/O loop.
#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "inbound_checks.hpp"
#include "seegw/common/log.hpp"
#include "seegw/dns/mail_exchangers.hpp"
#include "seegw/relay/gateway.hpp"
#include "seegw/seemail/stage.hpp"
#include "seegw/tls/tls_channel.hpp"

namespace seegw::relay {

Result<dns::Resolver*> Gateway::resolver() {
  std::lock_guard lock(resolver_mutex_);
  if (!resolver_) {
    dns::ResolverSettings settings{config_.dns.forwarders, {}, config_.dns.query_timeout};
    // The default anchor (Debian's root key) only where it is installed; a configured one that
    // is missing is an error.
    for (const auto& a : config_.dns.trust_anchors)
      if (a != config::DnsSettings().trust_anchors.front() || std::filesystem::exists(a))
        settings.trust_anchor_files.push_back(a);
    auto made = dns::Resolver::create(settings);
    if (!made) return std::unexpected(made.error());
    resolver_ = std::move(*made);
    sts_ = std::make_unique<sts::PolicyCache>(
        *resolver_, sts::FetchSettings{config_.mta_sts_ca_file, config_.mta_sts_port});
  }
  return resolver_.get();
}

// With their TLSA records when DNSSEC vouches for them (RFC 7672); an exchanger whose TLSA
// lookup fails is left out (§2.2: not to be used), so a domain with none left waits.
Result<std::vector<config::Exchanger>> Gateway::exchangers(const std::string& domain) {
  auto r = resolver();
  if (!r) return fail(Errc::unavailable, r.error().message);
  auto found = dns::mail_exchangers(**r, domain);
  if (!found) return std::unexpected(found.error());
  std::vector<config::Exchanger> out;
  std::string skipped;
  const auto& level = config_.relay_tls_level;
  const bool policies = level.session != smtp::TlsPolicy::none;  // tls = none: no DANE, no STS
  for (auto& e : *found) {
    config::Exchanger x{{e.address, config_.mx_port}, e.name, {}};
    if (level.dane_only && !e.mx_secure) {
      skipped = domain + "'s MX records are not DNSSEC-validated (relay.tls = dane)";
      continue;
    }
    if (e.mx_secure && policies) {
      auto tlsa = dns::dane_tlsa(**r, e.name, config_.mx_port);
      if (!tlsa) {
        skipped = tlsa.error().message;
        continue;
      }
      x.tlsa = std::move(*tlsa);
      if (x.tlsa.empty() && level.dane_only) {
        skipped = e.name + " has no TLSA records (relay.tls = dane)";
        continue;
      }
      if (!x.tlsa.empty()) x.policy_type = "tlsa";
      for (const auto& rdata : x.tlsa)  // presentation form, for TLS-RPT
        if (auto r = tls::dane_record(rdata)) {
          std::string hex;
          for (unsigned char c : r->data) hex += fmt::format("{:02x}", c);
          x.policy_strings.push_back(
              fmt::format("{} {} {} {}", r->usage, r->selector, r->matching, hex));
        }
    }
    out.push_back(std::move(x));
  }
  if (out.empty()) return fail(Errc::unavailable, "no usable mail exchanger: " + skipped);
  if (!policies) return out;
  if (auto sts = apply_mta_sts(domain, out); !sts) return std::unexpected(sts.error());
  return out;
}

Result<void> Gateway::apply_mta_sts(const std::string& domain,
                                    std::vector<config::Exchanger>& exchangers) {
  if (std::all_of(exchangers.begin(), exchangers.end(),
                  [](const config::Exchanger& e) { return !e.tlsa.empty(); }))
    return {};  // DANE covers them all (it takes precedence, RFC 8461 §2)
  std::string note;
  auto policy = sts_->policy_for(domain, note);
  if (!note.empty()) log::warning("relay: {}", note);
  if (!policy || policy->mode == sts::Mode::none) return {};
  const bool enforce = policy->mode == sts::Mode::enforce;
  std::vector<config::Exchanger> allowed;
  for (auto& e : exchangers) {
    if (e.tlsa.empty() && !sts::allows(*policy, e.name)) {
      log::warning("relay: MTA-STS ({}) of {} does not list {}{}", sts::mode_name(policy->mode),
                   domain, e.name, enforce ? ": not used" : "");
      if (enforce) continue;
    }
    e.sts_enforce = enforce && e.tlsa.empty();
    e.sts_testing = !enforce && e.tlsa.empty();
    if (e.tlsa.empty()) {
      e.policy_type = "sts";
      e.policy_strings = {"version: STSv1", fmt::format("mode: {}", sts::mode_name(policy->mode))};
      for (const auto& mx : policy->mx) e.policy_strings.push_back("mx: " + mx);
      e.policy_strings.push_back(fmt::format("max_age: {}", policy->max_age.count()));
    }
    allowed.push_back(std::move(e));
  }
  if (allowed.empty())
    return fail(Errc::unavailable,
                fmt::format("MTA-STS policy of {} allows none of its MX hosts", domain));
  exchangers = std::move(allowed);
  return {};
}

// A resolver that cannot start is a start-up error here: with the checks configured, mail from
// outside must not arrive unchecked.
Result<void> Gateway::start_inbound_checks() {
  if (!config_.inbound_auth.enabled) return {};
  auto r = resolver();
  if (!r) return std::unexpected(r.error());
  auto checks = InboundChecks::start(
      config_, **r, [this](const std::string& domain, std::string_view message) {
        return seemail::is_smime(message) && trust_->usable_domains().contains(domain);
      });
  if (!checks) return std::unexpected(checks.error());
  inbound_checks_ = std::move(*checks);
  log::notice("inbound_auth: SPF, DKIM and DMARC on mail from outside, as {}",
              config_.inbound_auth.authserv_id);
  return {};
}

}  // namespace seegw::relay
