// DMARC with libopendmarc: we fetch the record (through the validating resolver, as RFC 7489
// §6.6.3 says: the From domain, then its organizational domain) and hand it over; the library
// parses it, aligns the SPF and DKIM identifiers and names the policy.
#include <opendmarc/dmarc.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <mutex>

#include "checks.hpp"
#include "seegw/common/text.hpp"

// Exported by libopendmarc 1.4, not declared in its header: the organizational domain.
extern "C" int opendmarc_get_tld(u_char* domain, u_char* tld, size_t tld_len);

namespace seegw::sender_auth::detail {
namespace {

bool g_suffix_list_loaded = false;

// RFC 7489 §3.2 with the public suffix list; a name no rule covers takes the default rule "*"
// (its last two labels), which libopendmarc leaves to us.
std::string organizational_domain(const std::string& domain) {
  std::string copy = domain;
  u_char tld[256] = {};
  if (g_suffix_list_loaded &&
      opendmarc_get_tld(reinterpret_cast<u_char*>(copy.data()), tld, sizeof tld) == 0 && tld[0])
    return ascii_lower(reinterpret_cast<const char*>(tld));
  const auto last = domain.rfind('.');
  const auto second =
      last == std::string::npos || last == 0 ? std::string::npos : domain.rfind('.', last - 1);
  return ascii_lower(second == std::string::npos ? domain : domain.substr(second + 1));
}

// §3.1: strict is the same name; relaxed, the same organizational domain. Ours, not
// libopendmarc's: its strict mode (1.4.2) takes a subdomain for the domain itself.
bool aligned(const std::string& identifier, const std::string& from, bool strict) {
  if (identifier.empty()) return false;
  if (strict) return iequals(identifier, from);
  return organizational_domain(ascii_lower(identifier)) == organizational_domain(from);
}

struct Record {
  std::string text, domain;
  bool dns_error = false;
};

// §6.6.3: exactly one "v=DMARC1" TXT record at _dmarc.DOMAIN counts.
Record record_at(const std::string& domain, ResolverDns& dns) {
  Record r;
  const SpfAnswer a = dns.txt("_dmarc." + domain);
  if (a.status == SpfAnswer::Status::error) return {"", domain, true};
  int found = 0;
  for (const auto& t : a.values) {
    const std::string_view v = trim_view(t);
    if (iequals(v.substr(0, 8), "v=DMARC1") &&
        (v.size() == 8 || v[8] == ';' || v[8] == ' ' || v[8] == '\t')) {
      ++found;
      r.text = t;
    }
  }
  if (found != 1) r.text.clear();
  r.domain = domain;
  return r;
}

std::string policy_word(int p) {
  switch (p) {
    case DMARC_RECORD_P_REJECT:
      return "reject";
    case DMARC_RECORD_P_QUARANTINE:
      return "quarantine";
    default:
      return "none";
  }
}

using PolicyContext = std::unique_ptr<DMARC_POLICY_T, decltype(&opendmarc_policy_connect_shutdown)>;

// §4.2: DMARC passes when SPF or a DKIM signature passed for an identifier aligned with From.
bool identifiers_pass(DMARC_POLICY_T* ctx, const std::string& from, const SpfOutcome& spf,
                      const std::vector<DkimOutcome>& dkim) {
  int adkim = DMARC_RECORD_A_RELAXED, aspf = DMARC_RECORD_A_RELAXED;
  (void)opendmarc_policy_fetch_adkim(ctx, &adkim);
  (void)opendmarc_policy_fetch_aspf(ctx, &aspf);
  if (spf.result == SpfResult::pass && aligned(spf.domain, from, aspf == DMARC_RECORD_A_STRICT))
    return true;
  return std::any_of(dkim.begin(), dkim.end(), [&](const DkimOutcome& d) {
    return d.result == AuthResult::pass && aligned(d.domain, from, adkim == DMARC_RECORD_A_STRICT);
  });
}

}  // namespace

// Without the list, relaxed alignment would have to guess organizational domains, and the
// guess (the last two labels) makes every .govt.nz domain align with every other: refused.
Result<void> start_dmarc(const std::filesystem::path& public_suffix_list) {
  std::error_code ec;
  if (public_suffix_list.empty() || !std::filesystem::is_regular_file(public_suffix_list, ec))
    return fail(Errc::config,
                fmt::format("inbound_auth.public_suffix_list: '{}' is not there (Debian's "
                            "publicsuffix package); DMARC cannot tell organizational domains",
                            public_suffix_list.string()));
  static std::once_flag once;
  static OPENDMARC_STATUS_T status = DMARC_PARSE_OKAY;
  std::call_once(once, [&] {
    static OPENDMARC_LIB_T lib{};
    lib.tld_type = OPENDMARC_TLD_TYPE_MOZILLA;
    std::strncpy(reinterpret_cast<char*>(lib.tld_source_file), public_suffix_list.c_str(),
                 sizeof lib.tld_source_file - 1);
    status = opendmarc_policy_library_init(&lib);
    g_suffix_list_loaded = status == DMARC_PARSE_OKAY;
  });
  if (status != DMARC_PARSE_OKAY)
    return fail(Errc::config,
                fmt::format("libopendmarc could not read {}: {}", public_suffix_list.string(),
                            opendmarc_policy_status_to_str(status)));
  return {};
}

DmarcOutcome check_dmarc(const std::string& from_domain, const std::string& client_address,
                         const SpfOutcome& spf, const std::vector<DkimOutcome>& dkim,
                         ResolverDns& dns, int& pct) {
  DmarcOutcome out;
  out.from_domain = from_domain;
  Record record = record_at(from_domain, dns);
  std::string org;
  if (record.text.empty() && !record.dns_error) {
    org = organizational_domain(from_domain);
    if (org != from_domain) record = record_at(org, dns);
  }
  if (record.dns_error) {
    out.result = AuthResult::temperror;
    out.reason = fmt::format("DNS error looking up _dmarc.{}", record.domain);
    return out;
  }
  if (record.text.empty()) {
    out.reason = "no DMARC record";
    return out;
  }
  std::string ip = client_address;
  PolicyContext ctx(opendmarc_policy_connect_init(reinterpret_cast<u_char*>(ip.data()),
                                                  ip.find(':') != std::string::npos),
                    opendmarc_policy_connect_shutdown);
  if (!ctx) {
    out.result = AuthResult::temperror;
    out.reason = "libopendmarc could not start";
    return out;
  }
  std::string from = from_domain;
  u_char* org_arg =
      org.empty() || record.domain != org ? nullptr : reinterpret_cast<u_char*>(org.data());
  if (auto s =
          opendmarc_policy_store_dmarc(ctx.get(), reinterpret_cast<u_char*>(record.text.data()),
                                       reinterpret_cast<u_char*>(from.data()), org_arg);
      s != DMARC_PARSE_OKAY) {
    out.result = AuthResult::permerror;
    out.reason = fmt::format("unusable DMARC record at _dmarc.{}: {}", record.domain,
                             opendmarc_policy_status_to_str(s));
    return out;
  }
  int p = DMARC_RECORD_P_UNSPECIFIED;
  const bool subdomain_policy =
      opendmarc_get_policy_token_used(ctx.get()) == DMARC_USED_POLICY_IS_SP;
  (void)(subdomain_policy ? opendmarc_policy_fetch_sp(ctx.get(), &p)
                          : opendmarc_policy_fetch_p(ctx.get(), &p));
  out.policy = policy_word(p);
  pct = 100;
  (void)opendmarc_policy_fetch_pct(ctx.get(), &pct);
  if (identifiers_pass(ctx.get(), from_domain, spf, dkim)) {
    out.result = AuthResult::pass;
  } else {
    out.result = AuthResult::fail;
    out.reason = "neither SPF nor DKIM passed aligned with the From domain";
  }
  return out;
}

}  // namespace seegw::sender_auth::detail
