#include "seegw/dkim/signature.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <map>

#include "seegw/common/text.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/mime/header_fields.hpp"

namespace seegw::dkim {
namespace {

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string sha256(std::string_view data) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), md.data(), &n, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md.data()), n);
}

// One line of the body, relaxed (§3.4.4 a, b), appended to `out`.
void append_relaxed_line(std::string& out, std::string_view line) {
  bool space = false;
  for (char c : line) {
    if (is_wsp(c)) {
      space = true;
      continue;
    }
    if (space) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  out.append("\r\n");  // trailing white space is dropped with `space`
}

// `value` with the line breaks removed and white-space runs as one space, trimmed.
std::string relaxed_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  bool space = false;
  for (char c : value) {
    if (c == '\r' || c == '\n') continue;
    if (is_wsp(c)) {
      space = true;
      continue;
    }
    if (space && !out.empty()) out.push_back(' ');
    space = false;
    out.push_back(c);
  }
  return out;
}

// Appends `items` joined by `separator`, breaking the line (FWS) before one that would pass 76.
void append_folded(std::string& field, const std::vector<std::string>& items,
                   std::string_view separator) {
  std::size_t column = field.size() - std::min(field.size(), field.rfind('\n') + 1);
  for (std::size_t i = 0; i < items.size(); ++i) {
    const std::string piece = items[i] + std::string(i + 1 < items.size() ? separator : "");
    if (column + piece.size() > 76 && i > 0) {
      field.append("\r\n\t");
      column = 1;
    }
    field += piece;
    column += piece.size();
  }
}

}  // namespace

std::string_view algorithm_name(Algorithm a) {
  return a == Algorithm::ed25519_sha256 ? "ed25519-sha256" : "rsa-sha256";
}
std::string_view key_type_name(Algorithm a) {
  return a == Algorithm::ed25519_sha256 ? "ed25519" : "rsa";
}
std::optional<Algorithm> parse_key_type(std::string_view k) {
  if (k == "rsa") return Algorithm::rsa_sha256;
  if (k == "ed25519") return Algorithm::ed25519_sha256;
  return std::nullopt;
}

std::string relaxed_body(std::string_view body) {
  std::string out;
  out.reserve(body.size() + body.size() / 32);
  std::size_t empty_lines = 0;  // held back: empty lines at the very end are dropped
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t nl = body.find('\n', at);
    const std::size_t end = nl == std::string_view::npos ? body.size() : nl;
    std::string_view line = body.substr(at, end - at);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    at = nl == std::string_view::npos ? body.size() : nl + 1;
    if (std::all_of(line.begin(), line.end(), is_wsp)) {
      ++empty_lines;
      continue;
    }
    for (; empty_lines > 0; --empty_lines) out.append("\r\n");
    append_relaxed_line(out, line);
  }
  return out;
}

std::string relaxed_header(std::string_view name, std::string_view value) {
  std::string out = ascii_lower(trim_view(name));
  out.push_back(':');
  out += relaxed_value(value);
  out.append("\r\n");
  return out;
}

const std::vector<std::string_view>& signed_header_names() {
  static const std::vector<std::string_view> names = {
      "from",
      "sender",
      "reply-to",
      "subject",
      "date",
      "message-id",
      "to",
      "cc",
      "mime-version",
      "content-type",
      "content-transfer-encoding",
      "in-reply-to",
      "references",
  };
  return names;
}

UnsignedSignature prepare(std::string_view message, const SignatureRequest& request) {
  const mime::HeaderSection section = mime::header_fields(message);
  // Each signed name's fields, last first: the n-th listing of a name signs its n-th field from
  // the bottom (§5.4.2); a listing beyond them signs nothing and so forbids one more.
  std::map<std::string, std::vector<const mime::FieldSpan*>, std::less<>> by_name;
  for (auto it = section.fields.rbegin(); it != section.fields.rend(); ++it)
    if (it->has_colon) by_name[ascii_lower(std::string(it->name))].push_back(&*it);
  UnsignedSignature u;
  u.algorithm = request.algorithm;
  std::vector<std::string> listed;
  for (std::string_view name : signed_header_names()) {
    const auto found = by_name.find(name);
    const std::size_t present = found == by_name.end() ? 0 : found->second.size();
    for (std::size_t n = 0; n <= present; ++n) listed.emplace_back(name);
    for (std::size_t n = 0; n < present; ++n) {
      const mime::FieldSpan& f = *found->second[n];
      const std::string_view raw = message.substr(f.begin, f.end - f.begin);
      u.signed_data += relaxed_header(name, raw.substr(raw.find(':') + 1));
    }
  }
  const std::string body_hash =
      mime::encode_base64_line(sha256(relaxed_body(message.substr(section.body))));
  u.field = fmt::format("DKIM-Signature: v=1; a={}; c=relaxed/relaxed; d={}; s={};\r\n\tt={}; h=",
                        algorithm_name(request.algorithm), request.domain, request.selector,
                        request.timestamp);
  append_folded(u.field, listed, ":");
  u.field += fmt::format(";\r\n\tbh={};\r\n\tb=", body_hash);
  std::string canonical = relaxed_header("DKIM-Signature", u.field.substr(u.field.find(':') + 1));
  canonical.resize(canonical.size() - 2);  // §3.7: the signature field without its CRLF
  u.signed_data += canonical;
  return u;
}

std::string to_be_signed(const UnsignedSignature& u) {
  return u.algorithm == Algorithm::ed25519_sha256 ? sha256(u.signed_data) : u.signed_data;
}

std::string signature_field(const UnsignedSignature& u, std::string_view signature) {
  const std::string b = mime::encode_base64_line(signature);
  std::string field = u.field;
  field.reserve(field.size() + b.size() + b.size() / 70 * 3 + 2);
  std::size_t column = 3;  // "\tb="
  for (std::size_t at = 0; at < b.size();) {
    const std::size_t n = std::min<std::size_t>(b.size() - at, 76 - column);
    field.append(b, at, n);
    at += n;
    if (at < b.size()) {
      field.append("\r\n\t");
      column = 1;
    }
  }
  field.append("\r\n");
  return field;
}

std::string txt_text(Algorithm a, std::string_view public_key) {
  return fmt::format("v=DKIM1; k={}; p={}", key_type_name(a), mime::encode_base64_line(public_key));
}

std::string zone_line(std::string_view selector, std::string_view domain, std::string_view text) {
  std::string strings;
  for (std::size_t at = 0; at < text.size(); at += 255)
    strings += fmt::format("{}\"{}\"", strings.empty() ? "" : " ", text.substr(at, 255));
  return fmt::format("{}._domainkey.{}. 3600 IN TXT {}", selector, domain, strings);
}

}  // namespace seegw::dkim
