#include "seegw/smtp/address.hpp"

#include "seegw/common/text.hpp"

#include <algorithm>
#include <cctype>

namespace seegw::smtp {
namespace {

constexpr std::size_t kMaxPath = 256;  // RFC 5321 §4.5.3.1.3

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > 255) return false;
  if (d.front() == '[') return d.back() == ']' && d.size() > 2;  // address literal
  std::size_t label = 0;
  for (char c : d) {
    if (c == '.') {
      if (label == 0) return false;
      label = 0;
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') {
      if (++label > 63) return false;
    } else {
      return false;
    }
  }
  return label > 0;
}

bool valid_local_part(std::string_view l) {
  if (l.empty() || l.size() > 64 * 4) return false;
  if (l.front() == '"') {
    if (l.size() < 2 || l.back() != '"') return false;
    for (std::size_t i = 1; i + 1 < l.size(); ++i) {
      auto c = static_cast<unsigned char>(l[i]);
      if (c < 0x20 || c == 0x7f) return false;
    }
    return true;
  }
  for (char ch : l) {
    auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7f || ch == '<' || ch == '>' || ch == '(' || ch == ')' || ch == ',' ||
        ch == ';' || ch == ':' || ch == '\\' || ch == '"' || ch == '[' || ch == ']' || ch == '@')
      return false;
  }
  return true;
}

}  // namespace

std::optional<Path> parse_path(std::string_view text) {
  if (!text.empty() && text.front() == ' ') text.remove_prefix(1);
  if (text.empty() || text.front() != '<') return std::nullopt;
  // Find the closing '>' outside a quoted local part.
  bool quoted = false;
  std::size_t close = std::string_view::npos;
  for (std::size_t i = 1; i < text.size(); ++i) {
    if (text[i] == '"' && text[i - 1] != '\\') quoted = !quoted;
    if (!quoted && text[i] == '>') {
      close = i;
      break;
    }
  }
  if (close == std::string_view::npos || close - 1 > kMaxPath) return std::nullopt;
  std::string_view inner = text.substr(1, close - 1);
  std::string_view rest = text.substr(close + 1);
  if (!rest.empty() && rest.front() != ' ') return std::nullopt;
  while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);

  if (inner.empty()) return Path{"", rest};
  if (inner.front() == '@') {  // source route "@a,@b:user@c"
    auto colon = inner.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    inner.remove_prefix(colon + 1);
  }
  auto at = inner.rfind('@');
  if (at == std::string_view::npos) {
    if (ascii_lower(inner) == "postmaster") return Path{"postmaster", rest};
    return std::nullopt;
  }
  if (!valid_local_part(inner.substr(0, at)) || !valid_domain(inner.substr(at + 1)))
    return std::nullopt;
  return Path{std::string(inner), rest};
}

std::string domain_of(std::string_view address) {
  auto at = address.rfind('@');
  if (at == std::string_view::npos) return {};
  return ascii_lower(address.substr(at + 1));
}

}  // namespace seegw::smtp
