// Markup to logical text. Tags vanish without a trace so that a trigger split across formatting
// runs (<w:r>, <b>, RTF groups) joins up again; only paragraph-like boundaries become line breaks.
#include <cstdint>
#include <string>
#include <string_view>

#include "context.hpp"
#include "seegw/mime/codec.hpp"

namespace seegw::extract {
namespace {

bool decode_entity(std::string_view s, std::size_t& i, std::string& out) {
  // s[i] == '&'
  std::size_t semi = s.find(';', i);
  if (semi == std::string_view::npos || semi - i > 12) return false;
  std::string_view name = s.substr(i + 1, semi - i - 1);
  std::uint32_t cp = 0;
  if (name.starts_with("#x") || name.starts_with("#X")) {
    for (char c : name.substr(2)) {
      int v = (c >= '0' && c <= '9')                     ? c - '0'
              : ((c | 0x20) >= 'a' && (c | 0x20) <= 'f') ? (c | 0x20) - 'a' + 10
                                                         : -1;
      if (v < 0 || cp > 0x10FFFF) return false;
      cp = cp * 16 + static_cast<std::uint32_t>(v);
    }
  } else if (name.starts_with("#")) {
    for (char c : name.substr(1)) {
      if (c < '0' || c > '9' || cp > 0x10FFFF) return false;
      cp = cp * 10 + static_cast<std::uint32_t>(c - '0');
    }
  } else {
    std::string n = mime::ascii_lower(name);
    if (n == "amp")
      cp = '&';
    else if (n == "lt")
      cp = '<';
    else if (n == "gt")
      cp = '>';
    else if (n == "quot")
      cp = '"';
    else if (n == "apos")
      cp = '\'';
    else if (n == "nbsp")
      cp = 0xA0;
    else if (n == "lsqb" || n == "lbrack")
      cp = '[';
    else if (n == "rsqb" || n == "rbrack")
      cp = ']';
    else if (n == "lcub" || n == "lbrace")
      cp = '{';
    else if (n == "rcub" || n == "rbrace")
      cp = '}';
    else if (n == "ndash")
      cp = 0x2013;
    else
      return false;
  }
  if (cp == 0 || cp > 0x10FFFF) return false;
  append_utf8(out, cp);
  i = semi;
  return true;
}

bool tag_is(std::string_view tag, std::initializer_list<std::string_view> names) {
  // tag is the text between '<' and '>' ; compare the element name without '/' and prefix.
  std::size_t s = tag.starts_with("/") ? 1 : 0;
  std::size_t e = s;
  while (e < tag.size() && tag[e] != ' ' && tag[e] != '/' && tag[e] != '\t' && tag[e] != '\n' &&
         tag[e] != '\r')
    ++e;
  std::string name = mime::ascii_lower(tag.substr(s, e - s));
  for (auto n : names)
    if (name == n) return true;
  return false;
}

// Attribute values worth reading in office XML: names of sheets, titles and descriptions.
void append_attributes(std::string_view tag, std::string& out) {
  // Any attribute whose local name is one of these (name=, table:name=, draw:name= ...).
  for (std::string_view attr : {"name=\"", "title=\"", "descr=\""}) {
    std::size_t p = tag.find(attr);
    while (p != std::string_view::npos && p > 0 && tag[p - 1] != ' ' && tag[p - 1] != ':')
      p = tag.find(attr, p + 1);
    if (p == std::string_view::npos || p == 0) continue;
    std::size_t start = p + attr.size();
    std::size_t end = tag.find('"', start);
    if (end == std::string_view::npos) continue;
    std::string_view v = tag.substr(start, end - start);
    out.push_back('\n');
    for (std::size_t i = 0; i < v.size(); ++i) {
      if (v[i] == '&' && decode_entity(v, i, out)) continue;
      out.push_back(v[i]);
    }
    out.push_back('\n');
  }
}

std::string markup_text(std::string_view s, bool html) {
  std::string out;
  out.reserve(s.size() / 2);
  std::size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (c == '<') {
      if (s.substr(i, 9) == "<![CDATA[") {
        std::size_t end = s.find("]]>", i + 9);
        std::size_t stop = end == std::string_view::npos ? s.size() : end;
        out.append(s.substr(i + 9, stop - i - 9));
        i = end == std::string_view::npos ? s.size() : end + 3;
        continue;
      }
      if (s.substr(i, 4) == "<!--") {
        std::size_t end = s.find("-->", i + 4);
        i = end == std::string_view::npos ? s.size() : end + 3;
        continue;
      }
      std::size_t end = s.find('>', i + 1);
      if (end == std::string_view::npos) break;
      std::string_view tag = s.substr(i + 1, end - i - 1);
      if (html) {
        if (tag_is(tag, {"br", "p", "/p", "div", "/div", "tr", "/tr", "li", "td", "th", "h1", "h2",
                         "h3", "/h1", "/h2", "/h3"}))
          out.push_back('\n');
      } else {
        if (tag_is(tag, {"w:p", "/w:p", "a:p", "/a:p", "text:p", "/text:p", "text:h", "/text:h",
                         "/si", "/row", "/c", "w:br", "w:cr", "a:br"}))
          out.push_back('\n');
        else if (tag_is(tag, {"w:tab", "text:tab", "text:s"}))
          out.push_back(' ');
        append_attributes(tag, out);
      }
      i = end + 1;
      continue;
    }
    if (c == '&' && decode_entity(s, i, out)) {
      ++i;
      continue;
    }
    out.push_back(c);
    ++i;
  }
  return out;
}

}  // namespace

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string xml_text(std::string_view xml) { return markup_text(xml, false); }
std::string html_text(std::string_view html) { return markup_text(html, true); }

std::string rtf_text(std::string_view s) {
  std::string bytes;  // 8-bit text (cp1252) collected between unicode escapes
  std::string out;
  auto flush = [&] {
    if (!bytes.empty()) out += mime::to_utf8(bytes, "windows-1252");
    bytes.clear();
  };
  int skip_after_unicode = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '{' || c == '}' || c == '\r' || c == '\n') continue;
    if (c != '\\') {
      if (skip_after_unicode > 0) {
        --skip_after_unicode;
        continue;
      }
      bytes.push_back(c);
      continue;
    }
    if (i + 1 >= s.size()) break;
    char n = s[i + 1];
    if (n == '\\' || n == '{' || n == '}') {
      bytes.push_back(n);
      ++i;
      continue;
    }
    if (n == '\'' && i + 3 < s.size()) {
      auto hex = [](char h) { return h >= '0' && h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10; };
      if (skip_after_unicode > 0) {
        --skip_after_unicode;
      } else {
        bytes.push_back(static_cast<char>(hex(s[i + 2]) * 16 + hex(s[i + 3])));
      }
      i += 3;
      continue;
    }
    // Control word: letters, optional signed number, optional space.
    std::size_t j = i + 1;
    while (j < s.size() && ((s[j] | 0x20) >= 'a' && (s[j] | 0x20) <= 'z')) ++j;
    std::string_view word = s.substr(i + 1, j - i - 1);
    std::size_t num_start = j;
    if (j < s.size() && s[j] == '-') ++j;
    while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
    std::string_view num = s.substr(num_start, j - num_start);
    if (j < s.size() && s[j] == ' ') ++j;
    if (word == "u" && !num.empty()) {
      long v = std::strtol(std::string(num).c_str(), nullptr, 10);
      if (v < 0) v += 65536;
      flush();
      append_utf8(out, static_cast<std::uint32_t>(v));
      skip_after_unicode = 1;
    } else if (word == "par" || word == "line" || word == "row" || word == "cell") {
      bytes.push_back('\n');
    } else if (word == "tab") {
      bytes.push_back(' ');
    }
    i = j - 1;
  }
  flush();
  return out;
}

std::string utf16le_to_utf8(std::string_view b) {
  std::string out;
  out.reserve(b.size() / 2);
  for (std::size_t i = 0; i + 1 < b.size(); i += 2) {
    std::uint32_t u =
        static_cast<unsigned char>(b[i]) | (static_cast<unsigned char>(b[i + 1]) << 8);
    if (u >= 0xD800 && u < 0xDC00 && i + 3 < b.size()) {
      std::uint32_t lo =
          static_cast<unsigned char>(b[i + 2]) | (static_cast<unsigned char>(b[i + 3]) << 8);
      if (lo >= 0xDC00 && lo < 0xE000) {
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      }
    }
    if (u == 0) u = '\n';
    append_utf8(out, u);
  }
  return out;
}

std::string utf16le_runs(std::string_view b) {
  // Printable UTF-16LE code units in runs of at least 4.
  std::string out;
  for (int align = 0; align < 2; ++align) {
    std::string run;
    std::size_t count = 0;
    auto end_run = [&] {
      if (count >= 4) {
        out += run;
        out.push_back('\n');
      }
      run.clear();
      count = 0;
    };
    for (std::size_t i = static_cast<std::size_t>(align); i + 1 < b.size(); i += 2) {
      std::uint32_t u =
          static_cast<unsigned char>(b[i]) | (static_cast<unsigned char>(b[i + 1]) << 8);
      // Latin text and general punctuation only: triggers are Latin, and ASCII bytes read as
      // UTF-16 land in CJK ranges, which keeps plain 8-bit text from doubling here.
      bool printable = (u >= 0x20 && u < 0x7F) || u == 0x09 || u == 0x0A || u == 0x0D ||
                       (u >= 0xA0 && u < 0x250) || (u >= 0x2000 && u < 0x2020);
      if (!printable) {
        end_run();
        continue;
      }
      append_utf8(run, u);
      ++count;
    }
    end_run();
  }
  return out;
}

std::string calendar_text(std::string_view ics) {
  std::string out;
  out.reserve(ics.size());
  for (std::size_t i = 0; i < ics.size(); ++i) {
    const char c = ics[i];
    // A line break followed by one space or tab is a fold: both go (RFC 5545 §3.1).
    if (c == '\r' && i + 2 < ics.size() && ics[i + 1] == '\n' &&
        (ics[i + 2] == ' ' || ics[i + 2] == '\t')) {
      i += 2;
      continue;
    }
    if (c == '\n' && i + 1 < ics.size() && (ics[i + 1] == ' ' || ics[i + 1] == '\t')) {
      i += 1;
      continue;
    }
    // TEXT escapes (§3.3.11): \\ \; \, \N \n.
    if (c == '\\' && i + 1 < ics.size()) {
      const char e = ics[i + 1];
      if (e == 'n' || e == 'N') {
        out.push_back('\n');
        ++i;
        continue;
      }
      if (e == '\\' || e == ';' || e == ',') {
        out.push_back(e);
        ++i;
        continue;
      }
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace seegw::extract
