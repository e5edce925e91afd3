#include "seegw/sender_auth/verdict.hpp"

#include <fmt/format.h>

#include <array>

#include "seegw/common/text.hpp"
#include "seegw/mime/header_fields.hpp"

namespace seegw::sender_auth {

std::string_view auth_result_name(AuthResult r) {
  static constexpr std::array<std::string_view, 6> kNames = {"none",    "pass",      "fail",
                                                             "neutral", "temperror", "permerror"};
  return kNames[static_cast<std::size_t>(r)];
}

namespace {

// A property value (RFC 8601 §2.2): a token when it is one, else a quoted-string.
std::string value(std::string_view v) {
  const bool token = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) {
    const auto u = static_cast<unsigned char>(c);
    return std::isalnum(u) ||
           std::string_view(".-_@+!#$%&'*/=?^`{|}~").find(c) != std::string_view::npos;
  });
  if (token) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u == 0x7f) continue;
    if (c == '"' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + "\"";
}

// A (comment) from text a peer's DNS chose: printable ASCII, parentheses escaped, 160 bytes.
std::string comment(std::string_view text) {
  if (text.empty()) return "";
  std::string out = " (";
  for (char c : text.substr(0, 160)) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      out.push_back('?');
      continue;
    }
    if (c == '(' || c == ')' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out + ")";
}

std::string spf_part(const SpfOutcome& spf, std::string_view sender, std::string_view helo) {
  std::string out = fmt::format("spf={}{}", spf_result_name(spf.result), comment(spf.reason));
  if (!sender.empty()) return out + " smtp.mailfrom=" + value(sender);
  if (!helo.empty()) return out + " smtp.helo=" + value(helo);
  return out;
}

std::string dkim_part(const DkimOutcome& d) {
  std::string out = fmt::format("dkim={}{}", auth_result_name(d.result), comment(d.reason));
  if (!d.domain.empty()) out += " header.d=" + value(d.domain);
  if (!d.selector.empty()) out += " header.s=" + value(d.selector);
  if (!d.signature_start.empty()) out += " header.b=" + value(d.signature_start);
  return out;
}

// The authserv-id of an Authentication-Results value: its first token after any comment.
std::string authserv_id_of(std::string_view v) {
  v = trim_view(v);
  while (v.starts_with('(')) {
    const auto close = v.find(')');
    if (close == std::string_view::npos) return "";
    v = trim_view(v.substr(close + 1));
  }
  return std::string(v.substr(0, v.find_first_of("; \t(")));
}

}  // namespace

std::string authentication_results(std::string_view authserv_id, const Verdict& verdict,
                                   std::string_view sender, std::string_view helo) {
  std::vector<std::string> parts{spf_part(verdict.spf, sender, helo)};
  if (verdict.dkim.empty()) parts.push_back("dkim=none");
  for (const auto& d : verdict.dkim) parts.push_back(dkim_part(d));
  const auto& m = verdict.dmarc;
  std::string dmarc = fmt::format("dmarc={}", auth_result_name(m.result));
  dmarc += comment(m.policy.empty() ? m.reason
                                    : "p=" + m.policy + (m.reason.empty() ? "" : "; ") + m.reason);
  if (!m.from_domain.empty()) dmarc += " header.from=" + value(m.from_domain);
  parts.push_back(std::move(dmarc));
  std::string out = fmt::format("Authentication-Results: {}", value(authserv_id));
  for (const auto& p : parts) out += ";\r\n\t" + p;
  return out + "\r\n";
}

std::string without_forged_results(std::string message, std::string_view authserv_id) {
  const auto section = mime::header_fields(message);
  for (auto f = section.fields.rbegin(); f != section.fields.rend(); ++f)  // back to front
    if (f->has_colon && iequals(f->name, "Authentication-Results") &&
        iequals(authserv_id_of(mime::unfolded_value(message, *f)), authserv_id))
      message.erase(f->begin, f->end - f->begin);
  return message;
}

}  // namespace seegw::sender_auth
