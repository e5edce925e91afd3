#include "seegw/mime/message.hpp"

#include <fmt/format.h>

#include "seegw/mime/codec.hpp"
#include "seegw/mime/header_fields.hpp"

namespace seegw::mime {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() &&
         (s.front() == ' ' || s.front() == '\t' || s.front() == '\r' || s.front() == '\n'))
    s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return s;
}

// The header block as unfolded fields. A line that is not a field (no colon) is tolerated; its
// text and continuation lines go with the field before it, so nothing in the headers escapes the
// scanner.
std::vector<Header> parse_headers(std::string_view block) {
  std::vector<Header> out;
  for (const auto& f : header_fields(block).fields) {
    std::string value = unfolded_value(block, f);
    if (f.has_colon)
      out.push_back({std::string(f.name), std::move(value)});
    else if (!out.empty())
      out.back().value += " " + value;
  }
  return out;
}

// "type/subtype; a=b; c*=utf-8''x%20y; d*0="p"; d*1="q"" → media type and parameters.
void parse_params(std::string_view value, std::string* media,
                  std::map<std::string, std::string>& params) {
  std::vector<std::pair<std::string, std::string>> raw;
  std::size_t i = 0;
  auto skip_ws = [&] {
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
    if (i < value.size() && value[i] == '(') {  // comment
      int depth = 0;
      for (; i < value.size(); ++i) {
        if (value[i] == '(') ++depth;
        if (value[i] == ')' && --depth == 0) {
          ++i;
          break;
        }
      }
    }
    while (i < value.size() && (value[i] == ' ' || value[i] == '\t')) ++i;
  };
  skip_ws();
  std::size_t start = i;
  while (i < value.size() && value[i] != ';') ++i;
  if (media) *media = ascii_lower(trim(value.substr(start, i - start)));
  while (i < value.size()) {
    ++i;  // ';'
    skip_ws();
    std::size_t ns = i;
    while (i < value.size() && value[i] != '=' && value[i] != ';') ++i;
    std::string name = ascii_lower(trim(value.substr(ns, i - ns)));
    if (i >= value.size() || value[i] != '=') continue;
    ++i;
    skip_ws();
    std::string val;
    if (i < value.size() && value[i] == '"') {
      ++i;
      while (i < value.size() && value[i] != '"') {
        if (value[i] == '\\' && i + 1 < value.size()) ++i;
        val.push_back(value[i++]);
      }
      if (i < value.size()) ++i;
      while (i < value.size() && value[i] != ';') ++i;
    } else {
      std::size_t vs = i;
      while (i < value.size() && value[i] != ';') ++i;
      val = std::string(trim(value.substr(vs, i - vs)));
    }
    if (!name.empty()) raw.emplace_back(std::move(name), std::move(val));
  }
  // RFC 2231: name*=charset'lang'value, name*0*=..., name*1=...
  std::map<std::string, std::map<int, std::pair<bool, std::string>>> sections;
  for (auto& [name, val] : raw) {
    auto star = name.find('*');
    if (star == std::string::npos) {
      params.emplace(name, decode_header_words(val));  // RFC 2047 in parameters: common, wrong
      continue;
    }
    std::string base = name.substr(0, star);
    std::string rest = name.substr(star + 1);
    bool extended = !rest.empty() && rest.back() == '*';
    if (extended) rest.pop_back();
    if (rest.empty() && star + 1 == name.size()) extended = true;
    int index = 0;
    if (!rest.empty()) index = std::atoi(rest.c_str());
    if (index < 0 || index > 999) continue;
    sections[base][index] = {extended, val};
  }
  for (auto& [base, parts] : sections) {
    std::string joined;
    std::string charset_prefix;
    bool any_extended = false;
    for (auto& [idx, part] : parts) {
      any_extended |= part.first;
      joined += part.second;
    }
    params[base] = any_extended ? decode_rfc2231(joined) : joined;
  }
}

void split_multipart(Part& part, std::string_view boundary, std::size_t depth,
                     const ParseLimits& limits, std::size_t& parts,
                     std::vector<std::string>& problems);

void fill_part(Part& part, std::string_view raw, std::size_t depth, const ParseLimits& limits,
               std::size_t& parts, std::vector<std::string>& problems,
               bool digest_default = false) {
  std::size_t off = body_offset(raw);
  part.headers = parse_headers(raw.substr(0, off));
  part.raw_body = raw.substr(off);
  part.media_type = digest_default ? "message/rfc822" : "text/plain";
  if (const std::string* ct = part.header("Content-Type")) {
    std::string media;
    parse_params(*ct, &media, part.params);
    if (media.find('/') != std::string::npos)
      part.media_type = media;
    else
      problems.push_back(
          fmt::format("part {}: malformed Content-Type '{}'", part.path, ct->substr(0, 60)));
  }
  if (const std::string* cte = part.header("Content-Transfer-Encoding"))
    part.transfer_encoding = ascii_lower(trim(*cte));
  std::map<std::string, std::string> disposition;
  if (const std::string* cd = part.header("Content-Disposition"))
    parse_params(*cd, nullptr, disposition);
  if (auto it = disposition.find("filename"); it != disposition.end())
    part.filename = it->second;
  else if (auto n = part.params.find("name"); n != part.params.end())
    part.filename = n->second;

  if (part.is_multipart()) {
    std::string boundary = part.param("boundary");
    if (boundary.empty()) {
      problems.push_back(fmt::format("part {}: multipart without boundary", part.path));
      return;
    }
    if (depth >= limits.max_depth) {
      part.truncated = true;
      problems.push_back(
          fmt::format("part {}: nesting deeper than {}", part.path, limits.max_depth));
      return;
    }
    split_multipart(part, boundary, depth + 1, limits, parts, problems);
  }
}

void split_multipart(Part& part, std::string_view boundary, std::size_t depth,
                     const ParseLimits& limits, std::size_t& parts,
                     std::vector<std::string>& problems) {
  const std::string delim = "--" + std::string(boundary);
  std::string_view body = part.raw_body;
  const bool digest = part.media_type == "multipart/digest";
  // Boundary lines start a line; find each.
  std::vector<std::pair<std::size_t, std::size_t>> ranges;  // content [start, end)
  std::size_t pos = 0;
  std::size_t content_start = std::string_view::npos;
  bool closed = false;
  while (pos <= body.size()) {
    std::size_t hit = body.find(delim, pos);
    if (hit == std::string_view::npos) break;
    bool at_line_start = hit == 0 || body[hit - 1] == '\n';
    std::size_t after = hit + delim.size();
    if (!at_line_start) {
      pos = after;
      continue;
    }
    bool final = body.substr(after, 2) == "--";
    std::size_t line_end = body.find('\n', after);
    if (content_start != std::string_view::npos) {
      std::size_t end = hit;
      if (end > content_start && body[end - 1] == '\n') --end;  // the CRLF before the delimiter
      if (end > content_start && body[end - 1] == '\r') --end;
      ranges.emplace_back(content_start, std::max(end, content_start));
    }
    if (final) {
      closed = true;
      break;
    }
    content_start = line_end == std::string_view::npos ? body.size() : line_end + 1;
    pos = content_start;
  }
  if (!closed) {
    if (content_start != std::string_view::npos) ranges.emplace_back(content_start, body.size());
    problems.push_back(fmt::format("part {}: multipart not closed by its final boundary",
                                   part.path.empty() ? "body" : part.path));
  }
  int n = 0;
  for (auto [start, end] : ranges) {
    if (++parts > limits.max_parts) {
      part.truncated = true;
      problems.push_back(fmt::format("more than {} parts", limits.max_parts));
      return;
    }
    Part child;
    child.path = part.path.empty() ? std::to_string(++n) : fmt::format("{}.{}", part.path, ++n);
    fill_part(child, body.substr(start, end - start), depth, limits, parts, problems, digest);
    part.children.push_back(std::move(child));
  }
}

}  // namespace

std::size_t body_offset(std::string_view raw) {
  if (raw.starts_with("\r\n")) return 2;
  if (raw.starts_with("\n")) return 1;
  std::size_t crlf = raw.find("\r\n\r\n");
  std::size_t lf = raw.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return raw.size();
  if (lf != std::string_view::npos && (crlf == std::string_view::npos || lf < crlf)) return lf + 2;
  return crlf + 4;
}

std::string Part::decoded_body() const {
  if (transfer_encoding == "base64") return decode_base64(raw_body);
  if (transfer_encoding == "quoted-printable") return decode_quoted_printable(raw_body);
  return std::string(raw_body);
}

const std::string* Part::header(std::string_view name) const {
  for (const auto& h : headers)
    if (iequals(h.name, name)) return &h.value;
  return nullptr;
}

std::string Part::param(std::string_view name) const {
  auto it = params.find(std::string(name));
  return it == params.end() ? std::string() : it->second;
}

Message parse(std::string_view raw, const ParseLimits& limits) {
  Message m;
  std::size_t parts = 0;
  fill_part(m.root, raw, 0, limits, parts, m.problems);
  return m;
}

}  // namespace seegw::mime
