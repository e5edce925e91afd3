#include "seegw/mime/header_fields.hpp"

#include "seegw/common/text.hpp"

namespace seegw::mime {

HeaderSection header_fields(std::string_view m) {
  HeaderSection out;
  out.body = m.size();
  std::size_t pos = 0;
  while (pos < m.size()) {
    const std::size_t nl = m.find('\n', pos);
    const std::size_t end = nl == std::string_view::npos ? m.size() : nl + 1;
    const std::string_view line = m.substr(pos, end - pos);
    if (line == "\r\n" || line == "\n") {
      out.body = end;
      return out;
    }
    if ((line.front() == ' ' || line.front() == '\t') && !out.fields.empty()) {
      out.fields.back().end = end;
    } else {
      const auto colon = line.find(':');
      const bool has_colon = colon != std::string_view::npos && colon > 0;
      out.fields.push_back(
          {pos, end, trim_view(has_colon ? line.substr(0, colon) : line), has_colon});
    }
    pos = end;
  }
  return out;
}

std::string unfolded_value(std::string_view m, const FieldSpan& f) {
  std::string_view raw = m.substr(f.begin, f.end - f.begin);
  if (f.has_colon) raw.remove_prefix(raw.find(':') + 1);
  std::string out;
  out.reserve(raw.size());
  for (char c : raw)
    if (c != '\r' && c != '\n') out.push_back(c);
  return std::string(trim_view(out));
}

std::string header_value(std::string_view m, std::string_view name) {
  for (const auto& f : header_fields(m).fields)
    if (f.has_colon && iequals(f.name, name)) return unfolded_value(m, f);
  return "";
}

std::string remove_headers(std::string_view m, std::string_view name) {
  std::string out;
  out.reserve(m.size());
  std::size_t copied = 0;
  for (const auto& f : header_fields(m).fields) {
    if (!f.has_colon || !iequals(f.name, name)) continue;
    out.append(m.substr(copied, f.begin - copied));
    copied = f.end;
  }
  out.append(m.substr(copied));
  return out;
}

std::string kept_headers(std::string_view m,
                         const std::function<bool(std::string_view name)>& keep) {
  std::string out;
  for (const auto& f : header_fields(m).fields)
    if (keep(f.name)) out.append(m.substr(f.begin, f.end - f.begin));
  return out;
}

std::string rfc5322_date(std::time_t t) {
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

std::string rfc5322_date(std::chrono::system_clock::time_point when) {
  return rfc5322_date(std::chrono::system_clock::to_time_t(when));
}

std::string first_address(std::string_view v) {
  auto lt = v.find('<');
  if (lt != std::string_view::npos) {
    auto gt = v.find('>', lt);
    if (gt != std::string_view::npos) return std::string(trim_view(v.substr(lt + 1, gt - lt - 1)));
  }
  // A bare addr-spec, perhaps with a (comment) or a list after it.
  std::string s(trim_view(v.substr(0, v.find_first_of(",("))));
  return s.find('@') != std::string::npos && s.find(' ') == std::string::npos ? s : "";
}

}  // namespace seegw::mime
