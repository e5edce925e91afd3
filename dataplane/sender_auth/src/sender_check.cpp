#include "seegw/sender_auth/sender_check.hpp"

#include <fmt/format.h>

#include <random>

#include "checks.hpp"
#include "seegw/common/text.hpp"
#include "seegw/mime/header_fields.hpp"
#include "seegw/smtp/address.hpp"

namespace seegw::sender_auth {

struct SenderCheck::Impl {
  dns::Resolver& resolver;
  CheckSettings settings;
  std::unique_ptr<detail::DkimVerifier> dkim;
};

namespace {

// RFC 7489 §6.6.1: the one author domain, or why there is none to judge.
struct Author {
  std::string domain;
  std::string problem;
  bool several = false;  // more than one From: field
};
Author author_of(std::string_view message) {
  Author a;
  int fields = 0;
  for (const auto& f : mime::header_fields(message).fields) {
    if (!f.has_colon || !iequals(f.name, "From")) continue;
    if (++fields > 1) return {"", "more than one From: field", true};
    a.domain = smtp::domain_of(mime::first_address(mime::unfolded_value(message, f)));
  }
  if (a.domain.empty()) a.problem = fields ? "no domain in From:" : "no From: field";
  return a;
}

// §6.6.4: with pct below 100, a failing message outside the sample gets the next milder policy.
std::string sampled(const std::string& policy, int pct) {
  thread_local std::mt19937 random{std::random_device{}()};
  if (pct >= 100 || static_cast<int>(random() % 100) < pct) return policy;
  return policy == "reject" ? "quarantine" : "none";
}

bool any_temperror(const Verdict& v) {
  if (v.spf.result == SpfResult::temperror) return true;
  for (const auto& d : v.dkim)
    if (d.result == AuthResult::temperror) return true;
  return false;
}

void decide(Verdict& v, int pct, const CheckSettings& settings, std::string_view message) {
  const auto& d = v.dmarc;
  if (d.result == AuthResult::temperror) {
    v.disposition = Disposition::defer;
    v.reason = "DMARC could not be checked (DNS): try again later";
    return;
  }
  if (d.result != AuthResult::fail) return;
  const std::string policy = sampled(d.policy, pct);
  if (policy == "none") return;
  if (settings.judged_by_smime(d.from_domain, message)) return;
  if (any_temperror(v)) {
    v.disposition = Disposition::defer;
    v.reason = fmt::format("DMARC failed for {} while DNS could not answer: try again later",
                           d.from_domain);
    return;
  }
  v.disposition = policy == "reject" ? Disposition::reject : Disposition::quarantine;
  v.reason = fmt::format("DMARC policy of {} ({}): {}", d.from_domain, policy, d.reason);
}

}  // namespace

Result<std::unique_ptr<SenderCheck>> SenderCheck::create(dns::Resolver& resolver,
                                                         CheckSettings settings) {
  if (auto ok = detail::start_dmarc(settings.public_suffix_list); !ok)
    return std::unexpected(ok.error());
  auto dkim = detail::DkimVerifier::create(resolver);
  if (!dkim) return std::unexpected(dkim.error());
  std::unique_ptr<SenderCheck> check(new SenderCheck());
  check->impl_.reset(new Impl{resolver, std::move(settings), std::move(*dkim)});
  return check;
}

SenderCheck::~SenderCheck() = default;

Verdict SenderCheck::check(const MessageFacts& facts, std::string_view message) {
  const auto deadline = std::chrono::steady_clock::now() + impl_->settings.time_limit;
  detail::ResolverDns dns(impl_->resolver, deadline);
  Verdict v;
  v.spf = check_sender({facts.client_address, facts.mail_from, facts.helo}, dns);
  v.dkim = impl_->dkim->verify(message, deadline);
  const Author author = author_of(message);
  if (!author.problem.empty()) {
    v.dmarc.result = AuthResult::permerror;
    v.dmarc.reason = author.problem;
    if (author.several) {  // RFC 7489 §6.6.1: an author to hide behind
      v.disposition = Disposition::reject;
      v.reason = "more than one From: field (RFC 5322 §3.6)";
    }
    return v;
  }
  int pct = 100;
  v.dmarc = detail::check_dmarc(author.domain, facts.client_address, v.spf, v.dkim, dns, pct);
  decide(v, pct, impl_->settings, message);
  return v;
}

}  // namespace seegw::sender_auth
