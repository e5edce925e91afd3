#include "seegw/mime/codec.hpp"

#include <iconv.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>

namespace seegw::mime {
namespace {

constexpr std::array<signed char, 256> make_base64_table() {
  std::array<signed char, 256> t{};
  for (auto& v : t) v = -1;
  const char* alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (int i = 0; i < 64; ++i)
    t[static_cast<unsigned char>(alphabet[i])] = static_cast<signed char>(i);
  t['-'] = 62;  // URL-safe variants seen in the wild
  t['_'] = 63;
  return t;
}
constexpr auto kBase64 = make_base64_table();

// Two base64 characters (as a little-endian 16-bit load) to their 12 bits, or 0xFFFF when either
// is outside the alphabet: halves the lookups of the fast path.
const std::uint16_t* base64_pair_table() {
  static const auto* table = [] {
    auto* t = new std::uint16_t[65536];
    for (unsigned i = 0; i < 65536; ++i) {
      int lo = kBase64[i & 0xff], hi = kBase64[i >> 8];
      t[i] = (lo < 0 || hi < 0) ? 0xFFFF : static_cast<std::uint16_t>(lo << 6 | hi);
    }
    return t;
  }();
  return table;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// RAII for an iconv descriptor.
class Iconv {
 public:
  Iconv(const std::string& from) : cd_(iconv_open("UTF-8", from.c_str())) {}
  ~Iconv() {
    if (ok()) iconv_close(cd_);
  }
  Iconv(const Iconv&) = delete;
  Iconv& operator=(const Iconv&) = delete;
  bool ok() const { return cd_ != reinterpret_cast<iconv_t>(-1); }
  iconv_t get() const { return cd_; }

 private:
  iconv_t cd_;
};

}  // namespace

std::string decode_base64(std::string_view text) {
  std::string out(text.size() / 4 * 3 + 3, '\0');
  auto* dst = reinterpret_cast<unsigned char*>(out.data());
  const auto* p = reinterpret_cast<const unsigned char*>(text.data());
  const auto* end = p + text.size();
  const std::uint16_t* pairs = base64_pair_table();
  std::uint32_t acc = 0;
  int bits = 0;
  while (p < end) {
    // Fast path: four alphabet characters in a row decode to three bytes at once.
    if (bits == 0 && end - p >= 4) {
      std::uint16_t w0, w1;
      std::memcpy(&w0, p, 2);
      std::memcpy(&w1, p + 2, 2);
      const std::uint32_t hi = pairs[w0], lo = pairs[w1];
      if (((hi | lo) & 0xF000) == 0) {
        const std::uint32_t v = hi << 12 | lo;
        dst[0] = static_cast<unsigned char>(v >> 16);
        dst[1] = static_cast<unsigned char>(v >> 8);
        dst[2] = static_cast<unsigned char>(v);
        dst += 3;
        p += 4;
        continue;
      }
    }
    // Slow path, one character: line breaks and junk are skipped. '=' ends a quantum, not the
    // data: concatenated encoders write "SGk=" and go on, and GNU base64 -d and mail clients
    // decode on (TRG-5: what a reader sees must be what the scanner reads). The bits of a
    // partial quantum before the pad are padding, never data.
    const unsigned char ch = *p++;
    if (ch == '=') {
      acc = 0;
      bits = 0;
      continue;
    }
    const int v = kBase64[ch];
    if (v < 0) continue;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      *dst++ = static_cast<unsigned char>((acc >> bits) & 0xff);
      if (bits == 0) acc = 0;
    }
  }
  out.resize(static_cast<std::size_t>(dst - reinterpret_cast<unsigned char*>(out.data())));
  return out;
}

void append_base64(std::string& out, std::string_view in, std::size_t line_length) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  line_length = std::max<std::size_t>(4, line_length / 4 * 4);
  const std::size_t groups_per_line = line_length / 4;
  const std::size_t groups = (in.size() + 2) / 3;
  const std::size_t lines = (groups + groups_per_line - 1) / groups_per_line;
  // Sized once and written through a pointer: a CMS body is base64-encoded on every secure
  // message, and appending a character at a time cost more than the encoding.
  const std::size_t start = out.size();
  out.resize(start + groups * 4 + lines * 2);
  char* o = out.data() + start;
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  const std::size_t whole = in.size() / 3;
  std::size_t column = 0;
  for (std::size_t g = 0; g < whole; ++g, p += 3) {
    const std::uint32_t v = (std::uint32_t{p[0]} << 16) | (std::uint32_t{p[1]} << 8) | p[2];
    o[0] = kAlphabet[v >> 18];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = kAlphabet[(v >> 6) & 63];
    o[3] = kAlphabet[v & 63];
    o += 4;
    if (++column == groups_per_line) {
      *o++ = '\r';
      *o++ = '\n';
      column = 0;
    }
  }
  if (const std::size_t rest = in.size() - whole * 3; rest != 0) {
    std::uint32_t v = std::uint32_t{p[0]} << 16;
    if (rest == 2) v |= std::uint32_t{p[1]} << 8;
    o[0] = kAlphabet[v >> 18];
    o[1] = kAlphabet[(v >> 12) & 63];
    o[2] = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    o[3] = '=';
    o += 4;
    ++column;
  }
  if (column) {
    *o++ = '\r';
    *o++ = '\n';
  }
  out.resize(static_cast<std::size_t>(o - out.data()));
}

std::string encode_base64(std::string_view in, std::size_t line_length) {
  std::string out;
  append_base64(out, in, line_length);
  return out;
}

std::string encode_base64_line(std::string_view bytes) {
  std::string out = encode_base64(bytes, bytes.size() / 3 * 4 + 4);
  if (out.ends_with("\r\n")) out.resize(out.size() - 2);
  return out;
}

std::string decode_quoted_printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c != '=') {
      out.push_back(c);
      continue;
    }
    // Soft line break: '=' then optional trailing white space then CRLF or LF.
    std::size_t j = i + 1;
    while (j < text.size() && (text[j] == ' ' || text[j] == '\t')) ++j;
    if (j < text.size() && (text[j] == '\r' || text[j] == '\n')) {
      if (text[j] == '\r' && j + 1 < text.size() && text[j + 1] == '\n') ++j;
      i = j;
      continue;
    }
    if (j == text.size()) {  // '=' at the very end: a soft break without its line end
      i = j;
      continue;
    }
    if (i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]);
      int lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back('=');  // broken escape: keep it literally
  }
  return out;
}

std::string to_utf8(std::string_view bytes, std::string_view charset) {
  std::string cs = ascii_lower(charset);
  if (cs.empty() || cs == "us-ascii" || cs == "utf-8" || cs == "utf8" || cs == "ascii") {
    return std::string(bytes);
  }
  if (cs == "iso-8859-1" || cs == "latin1") cs = "windows-1252";  // a superset that mail uses
  Iconv cd(cs);
  if (!cd.ok()) return std::string(bytes);
  std::string out;
  out.resize(bytes.size() * 2 + 16);
  char* in = const_cast<char*>(bytes.data());
  std::size_t in_left = bytes.size();
  std::size_t out_pos = 0;
  while (in_left > 0) {
    char* out_ptr = out.data() + out_pos;
    std::size_t out_left = out.size() - out_pos;
    std::size_t rc = iconv(cd.get(), &in, &in_left, &out_ptr, &out_left);
    out_pos = static_cast<std::size_t>(out_ptr - out.data());
    if (rc != static_cast<std::size_t>(-1)) break;
    if (errno == E2BIG) {
      out.resize(out.size() * 2);
    } else {
      // Invalid or incomplete sequence: copy one byte as is and carry on.
      if (out_pos + 1 > out.size()) out.resize(out.size() * 2);
      out[out_pos++] = *in++;
      --in_left;
      iconv(cd.get(), nullptr, nullptr, nullptr, nullptr);
    }
  }
  out.resize(out_pos);
  return out;
}

std::string decode_header_words(std::string_view value) {
  std::string out;
  std::string pending_ws;
  bool last_was_word = false;
  std::size_t i = 0;
  while (i < value.size()) {
    if (value.substr(i, 2) == "=?") {
      // =?charset?enc?text?=
      std::size_t q1 = value.find('?', i + 2);
      std::size_t q2 = q1 == std::string_view::npos ? q1 : value.find('?', q1 + 1);
      std::size_t end = q2 == std::string_view::npos ? q2 : value.find("?=", q2 + 1);
      if (end != std::string_view::npos && q2 == q1 + 2) {
        std::string_view charset = value.substr(i + 2, q1 - i - 2);
        if (auto star = charset.find('*'); star != std::string_view::npos)  // RFC 2231 language
          charset = charset.substr(0, star);
        char enc = static_cast<char>(value[q1 + 1] | 0x20);
        std::string_view text = value.substr(q2 + 1, end - q2 - 1);
        std::string decoded;
        if (enc == 'b') {
          decoded = decode_base64(text);
        } else if (enc == 'q') {
          std::string t(text);
          for (auto& c : t)
            if (c == '_') c = ' ';
          decoded = decode_quoted_printable(t);
        }
        if (enc == 'b' || enc == 'q') {
          if (!last_was_word) out += pending_ws;
          pending_ws.clear();
          out += to_utf8(decoded, charset);
          last_was_word = true;
          i = end + 2;
          continue;
        }
      }
    }
    char c = value[i];
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      pending_ws.push_back(c);
    } else {
      out += pending_ws;
      pending_ws.clear();
      out.push_back(c);
      last_was_word = false;
    }
    ++i;
  }
  out += pending_ws;
  return out;
}

std::string decode_rfc2231(std::string_view value) {
  auto q1 = value.find('\'');
  auto q2 = q1 == std::string_view::npos ? q1 : value.find('\'', q1 + 1);
  std::string_view charset = q2 == std::string_view::npos ? "" : value.substr(0, q1);
  std::string_view text = q2 == std::string_view::npos ? value : value.substr(q2 + 1);
  std::string bytes;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size()) {
      int hi = hex_value(text[i + 1]), lo = hex_value(text[i + 2]);
      if (hi >= 0 && lo >= 0) {
        bytes.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    bytes.push_back(text[i]);
  }
  return to_utf8(bytes, charset);
}

}  // namespace seegw::mime
