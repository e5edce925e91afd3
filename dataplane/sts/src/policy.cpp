#include "seegw/sts/policy.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "seegw/common/text.hpp"
#include "seegw/dns/records.hpp"

namespace seegw::sts {
namespace {

constexpr std::int64_t kMaxAge = 31557600;  // §3.2: one year

bool is_id_char(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

}  // namespace

std::string_view mode_name(Mode mode) {
  switch (mode) {
    case Mode::enforce:
      return "enforce";
    case Mode::testing:
      return "testing";
    case Mode::none:
      break;
  }
  return "none";
}

Result<Policy> parse_policy(std::string_view text) {
  if (text.size() > kMaxPolicyBytes)
    return fail(Errc::limit, fmt::format("the policy is larger than {} bytes", kMaxPolicyBytes));
  Policy p;
  bool version = false, mode = false, age = false;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // §3.2: unknown lines are ignored
    const std::string key = ascii_lower(trim_view(line.substr(0, colon)));
    const std::string value(trim_view(line.substr(colon + 1)));
    if (key == "version") {
      if (value != "STSv1") return fail(Errc::parse, "version is not STSv1");
      version = true;
    } else if (key == "mode") {
      if (value == "enforce")
        p.mode = Mode::enforce;
      else if (value == "testing")
        p.mode = Mode::testing;
      else if (value == "none")
        p.mode = Mode::none;
      else
        return fail(Errc::parse, fmt::format("unknown mode '{}'", value));
      mode = true;
    } else if (key == "max_age") {
      if (value.empty() || value.size() > 10 ||
          !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }))
        return fail(Errc::parse, "max_age is not a number of seconds");
      p.max_age = std::chrono::seconds(std::min<std::int64_t>(std::stoll(value), kMaxAge));
      age = true;
    } else if (key == "mx") {
      if (value.empty() || value.size() > 253) return fail(Errc::parse, "an mx line is empty");
      p.mx.push_back(ascii_lower(value));
    }
  }
  if (!version || !mode || !age) return fail(Errc::parse, "version, mode and max_age are required");
  if (p.mode != Mode::none && p.mx.empty()) return fail(Errc::parse, "no mx line");
  return p;
}

bool mx_matches(std::string_view pattern, std::string_view host) {
  const std::string h = ascii_lower(host);
  if (!pattern.starts_with("*.")) return pattern == h;
  const auto dot = h.find('.');
  return dot != std::string::npos && dot > 0 &&
         std::string_view(h).substr(dot + 1) == pattern.substr(2);
}

bool allows(const Policy& policy, std::string_view host) {
  return std::any_of(policy.mx.begin(), policy.mx.end(),
                     [&](const std::string& p) { return mx_matches(p, host); });
}

std::string record_id(std::string_view txt) {
  if (!txt.starts_with("v=STSv1")) return "";
  auto tags = dns::tag_list(txt);
  const std::string id = tags["id"];
  if (id.empty() || id.size() > 32 || !std::all_of(id.begin(), id.end(), is_id_char)) return "";
  return id;
}

}  // namespace seegw::sts
