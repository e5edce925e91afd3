#include "seegw/dns/records.hpp"

#include <arpa/inet.h>

#include <cctype>

namespace seegw::dns {

std::string txt_rdata_text(std::string_view rdata) {
  std::string out;
  for (std::size_t at = 0; at < rdata.size();) {
    const std::size_t n = static_cast<unsigned char>(rdata[at]);
    if (at + 1 + n > rdata.size()) return "";
    out.append(rdata.substr(at + 1, n));
    at += 1 + n;
  }
  return out;
}

std::map<std::string, std::string> tag_list(std::string_view text) {
  std::map<std::string, std::string> out;
  auto strip = [](std::string_view v) {
    std::string s;
    for (char c : v)
      if (c != ' ' && c != '\t' && c != '\r' && c != '\n') s.push_back(c);
    return s;
  };
  while (!text.empty()) {
    const auto semi = text.find(';');
    const std::string_view item = text.substr(0, semi);
    text = semi == std::string_view::npos ? std::string_view() : text.substr(semi + 1);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos) continue;
    std::string name = strip(item.substr(0, eq));
    for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (!name.empty()) out.try_emplace(name, strip(item.substr(eq + 1)));
  }
  return out;
}

std::optional<std::string> name_rdata(std::string_view rdata) {
  std::string name;
  std::size_t at = 0;
  while (true) {
    if (at >= rdata.size()) return std::nullopt;
    const std::size_t n = static_cast<unsigned char>(rdata[at]);
    if (n == 0) break;
    if (n > 63 || at + 1 + n > rdata.size()) return std::nullopt;  // a pointer, or past the end
    if (!name.empty()) name.push_back('.');
    name.append(rdata.substr(at + 1, n));
    at += 1 + n;
  }
  if (at + 1 != rdata.size() || name.size() > 253) return std::nullopt;
  for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name;
}

std::optional<MxRecord> mx_rdata(std::string_view rdata) {
  if (rdata.size() < 3) return std::nullopt;
  auto exchange = name_rdata(rdata.substr(2));
  if (!exchange) return std::nullopt;
  return MxRecord{static_cast<unsigned char>(rdata[0]) << 8 | static_cast<unsigned char>(rdata[1]),
                  std::move(*exchange)};
}

std::string address_rdata(std::string_view rdata) {
  char text[INET6_ADDRSTRLEN] = {};
  const int family = rdata.size() == 4 ? AF_INET : rdata.size() == 16 ? AF_INET6 : 0;
  if (!family || !inet_ntop(family, rdata.data(), text, sizeof text)) return "";
  return text;
}

}  // namespace seegw::dns
