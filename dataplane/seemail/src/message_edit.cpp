#include "seegw/seemail/message_edit.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>
#include <random>

#include "seegw/common/text.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/mime/header_fields.hpp"

namespace seegw::seemail {
namespace {

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
    s.remove_suffix(1);
  return std::string(s);
}

bool is_content_field(std::string_view name) {
  const std::string n = ascii_lower(name);
  return n.starts_with("content-") || n == "mime-version";
}

std::string crlf(std::string_view text) {
  std::string out;
  for (char c : text) {
    if (c == '\n')
      out += "\r\n";
    else if (c != '\r')
      out.push_back(c);
  }
  return out;
}

std::string boundary() {
  static std::atomic<std::uint64_t> n{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("=_seegw_{:016x}_{}", rng(), n.fetch_add(1));
}

// RFC 2047 for a header value that is not plain ASCII.
std::string encoded_word(std::string_view text) {
  for (unsigned char c : text)
    if (c >= 0x80 || c < 0x20)
      return "=?UTF-8?B?" + trim(mime::encode_base64(text, 1u << 20)) + "?=";
  return std::string(text);
}

}  // namespace

std::string prepend_headers(std::string_view m, std::string_view fields) {
  std::string out(fields);
  out.append(m);
  return out;
}

std::string tag_subject(std::string_view m, std::string_view tag) {
  for (const auto& f : mime::header_fields(m).fields) {
    if (!f.has_colon || !iequals(f.name, "subject")) continue;
    std::size_t value = m.find(':', f.begin) + 1;
    while (value < f.end && (m[value] == ' ' || m[value] == '\t')) ++value;
    return std::string(m.substr(0, value)) + std::string(tag) + " " + std::string(m.substr(value));
  }
  return prepend_headers(m, fmt::format("Subject: {}\r\n", tag));
}

std::string wrap_with_warning(std::string_view m, std::string_view warning_text,
                              std::optional<std::string_view> attach_original) {
  const auto section = mime::header_fields(m);
  const std::size_t body = section.body;
  std::string top, part_fields;
  // The original part keeps its own content fields (minus MIME-Version), or gets the default.
  for (const auto& f : section.fields) {
    auto text = m.substr(f.begin, f.end - f.begin);
    if (!is_content_field(f.name))
      top.append(text);
    else if (!iequals(f.name, "mime-version"))
      part_fields.append(text);
  }
  if (part_fields.empty()) part_fields = "Content-Type: text/plain; charset=us-ascii\r\n";
  if (!part_fields.ends_with("\n")) part_fields += "\r\n";
  std::string_view second = m.substr(std::min(body, m.size()));
  if (attach_original) {
    const bool eight_bit =
        std::any_of(attach_original->begin(), attach_original->end(),
                    [](char c) { return static_cast<unsigned char>(c) >= 0x80; });
    part_fields = fmt::format(
        "Content-Type: message/rfc822\r\nContent-Disposition: attachment; "
        "filename=\"original-message.eml\"\r\n{}",
        eight_bit ? "Content-Transfer-Encoding: 8bit\r\n" : "");
    second = *attach_original;
  }
  const std::string b = boundary();
  std::string out = top;
  out += "MIME-Version: 1.0\r\n";
  out += fmt::format("Content-Type: multipart/mixed; boundary=\"{}\"\r\n\r\n", b);
  out += "This is a multi-part message in MIME format.\r\n";
  out += fmt::format(
      "--{}\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\nContent-Disposition: inline\r\n\r\n",
      b);
  out += crlf(warning_text);
  if (!out.ends_with("\r\n")) out += "\r\n";
  out += fmt::format("--{}\r\n", b);
  out += part_fields;
  out += "\r\n";
  out.append(second);
  // The CRLF before a boundary belongs to the delimiter (RFC 2046 §5.1.1): adding one always
  // keeps the original body byte for byte, final line break included.
  out += "\r\n";
  out += fmt::format("--{}--\r\n", b);
  return out;
}

std::string compose(const ComposedMessage& m, std::string_view hostname, std::time_t now) {
  static std::atomic<std::uint64_t> serial{0};
  thread_local std::mt19937_64 rng{std::random_device{}()};
  std::string out;
  out += fmt::format("From: {}\r\nTo: {}\r\nSubject: {}\r\nDate: {}\r\n", m.from, m.to,
                     encoded_word(m.subject), mime::rfc5322_date(now));
  out += fmt::format("Message-ID: <{}.{:x}.{}@{}>\r\n", now, rng(), serial.fetch_add(1), hostname);
  if (!m.in_reply_to.empty())
    out += fmt::format("In-Reply-To: {0}\r\nReferences: {0}\r\n", m.in_reply_to);
  if (!m.auto_submitted.empty()) out += fmt::format("Auto-Submitted: {}\r\n", m.auto_submitted);
  for (const auto& h : m.extra_headers) out += h + "\r\n";
  out += "MIME-Version: 1.0\r\n";
  const std::string text = crlf(m.text);
  if (m.attachments.empty()) {
    out += "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n";
    out += text;
    if (!out.ends_with("\r\n")) out += "\r\n";
    return out;
  }
  const std::string b = boundary();
  out += fmt::format("Content-Type: multipart/mixed; boundary=\"{}\"\r\n\r\n", b);
  out += fmt::format(
      "--{}\r\nContent-Type: text/plain; charset=utf-8\r\n"
      "Content-Transfer-Encoding: 8bit\r\n\r\n{}",
      b, text);
  if (!out.ends_with("\r\n")) out += "\r\n";
  for (const auto& a : m.attachments) {
    out += fmt::format(
        "--{}\r\nContent-Type: {}; name=\"{}\"\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"{}\"\r\n\r\n",
        b, a.media_type, a.filename, a.filename);
    out += crlf(mime::encode_base64(a.bytes));
    if (!out.ends_with("\r\n")) out += "\r\n";
  }
  out += fmt::format("--{}--\r\n", b);
  return out;
}

}  // namespace seegw::seemail
