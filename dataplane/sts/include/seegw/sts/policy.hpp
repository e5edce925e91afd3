// MTA-STS (RFC 8461) policies: the text a domain serves at
// https://mta-sts.DOMAIN/.well-known/mta-sts.txt, parsed strictly (a policy that does not parse
// is no policy), and which MX host names it allows. Pure: fetched and cached by PolicyCache.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"

namespace seegw::sts {

enum class Mode { none, testing, enforce };

struct Policy {
  Mode mode = Mode::none;
  std::vector<std::string> mx;  // patterns: "mx.example.org", "*.example.org"
  std::chrono::seconds max_age{0};
};

// RFC 8461 §3.2; Errc::limit above kMaxPolicyBytes (§3.3 lets a sender refuse large ones).
inline constexpr std::size_t kMaxPolicyBytes = 64 * 1024;
Result<Policy> parse_policy(std::string_view text);

// §4.1: "*.example.org" matches one leftmost label ("mx.example.org", not "a.b.example.org").
bool mx_matches(std::string_view pattern, std::string_view host);
bool allows(const Policy& policy, std::string_view host);

// The id of a domain's "v=STSv1; id=..." TXT record (§3.1), "" when the text is not one.
std::string record_id(std::string_view txt);

std::string_view mode_name(Mode mode);

}  // namespace seegw::sts
