#include "seegw/spool/spool_record.hpp"

#include <fmt/format.h>

#include <charconv>
#include <optional>

namespace seegw::spool {
namespace {

constexpr std::string_view kMagic = "SEEGW-SPOOL/1\n";

// Percent-encoding keeps every header value one token with no spaces or line ends in it.
std::string enc(std::string_view text) {
  if (text.empty()) return "%";
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7f || c == '%')
      out += fmt::format("%{:02X}", u);
    else
      out.push_back(c);
  }
  return out;
}

std::optional<std::string> dec(std::string_view text) {
  if (text == "%") return std::string();
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '%') {
      out.push_back(text[i]);
      continue;
    }
    unsigned value = 0;
    if (i + 3 > text.size()) return std::nullopt;
    auto [p, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 3, value, 16);
    if (ec != std::errc{} || p != text.data() + i + 3) return std::nullopt;
    out.push_back(static_cast<char>(value));
    i += 2;
  }
  return out;
}

template <class Int>
bool parse_int(std::string_view text, Int& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && p == text.data() + text.size();
}

std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> out;
  while (!line.empty()) {
    auto sp = line.find(' ');
    out.push_back(line.substr(0, sp));
    if (sp == std::string_view::npos) break;
    line.remove_prefix(sp + 1);
  }
  return out;
}

}  // namespace

std::string encode_header(const SpoolRecord& r) {
  const auto& e = r.envelope;
  std::string out(kMagic);
  out += fmt::format("id {}\narrival {}\nnext-attempt {}\nattempts {}\ndelay-notified {}\n", r.id,
                     r.arrival, r.next_attempt, r.attempts, r.delay_notified ? 1 : 0);
  out += fmt::format("reason {}\nclient {} {} {}\nhelo {} {}\ntls {} {} {}\nbody {}\nfrom {}\n",
                     enc(r.reason), enc(e.client_address), e.client_port, e.client_internal ? 1 : 0,
                     enc(e.helo), e.esmtp ? 1 : 0, e.tls ? 1 : 0, enc(e.tls_protocol),
                     enc(e.tls_cipher), smtp::body_type_name(e.body_type), enc(e.mail_from));
  // Written only when set, so the files of earlier versions read the same.
  if (r.awaits_certificate) out += "awaits-certificate 1\n";
  if (r.secured_by_gateway) out += "secured-by-gateway 1\n";
  if (r.quarantined) out += "quarantined 1\n";
  for (const auto& rcpt : r.recipients)
    out += fmt::format("rcpt {} {}\n", enc(rcpt.address), enc(rcpt.last_error));
  out += fmt::format("size {}\n\n", r.content ? r.content->size() : 0);
  return out;
}

Result<SpoolRecord> decode(std::string_view file) {
  auto corrupt = [](std::string why) { return fail(Errc::corrupt, std::move(why)); };
  if (!file.starts_with(kMagic)) return corrupt("missing SEEGW-SPOOL/1 header");
  std::size_t pos = kMagic.size();
  SpoolRecord r;
  auto& e = r.envelope;
  std::optional<std::size_t> size;
  bool have_id = false, have_from = false;
  while (true) {
    auto nl = file.find('\n', pos);
    if (nl == std::string_view::npos) return corrupt("header not terminated");
    std::string_view line = file.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.empty()) break;
    auto f = fields(line);
    const std::string_view key = f[0];
    auto need = [&](std::size_t n) { return f.size() == n + 1; };
    bool ok = true;
    if (key == "id" && need(1)) {
      r.id = std::string(f[1]);
      ok = is_queue_id(r.id);
      have_id = ok;
    } else if (key == "arrival" && need(1)) {
      ok = parse_int(f[1], r.arrival);
    } else if (key == "next-attempt" && need(1)) {
      ok = parse_int(f[1], r.next_attempt);
    } else if (key == "attempts" && need(1)) {
      ok = parse_int(f[1], r.attempts);
    } else if (key == "delay-notified" && need(1)) {
      r.delay_notified = f[1] == "1";
    } else if (key == "reason" && need(1)) {
      auto v = dec(f[1]);
      ok = v.has_value();
      if (ok) r.reason = *v;
    } else if (key == "awaits-certificate" && need(1)) {
      r.awaits_certificate = f[1] == "1";
    } else if (key == "secured-by-gateway" && need(1)) {
      r.secured_by_gateway = f[1] == "1";
    } else if (key == "quarantined" && need(1)) {
      r.quarantined = f[1] == "1";
    } else if (key == "client" && need(3)) {
      auto a = dec(f[1]);
      ok = a && parse_int(f[2], e.client_port);
      if (ok) e.client_address = *a;
      e.client_internal = f[3] == "1";
    } else if (key == "helo" && need(2)) {
      auto h = dec(f[1]);
      ok = h.has_value();
      if (ok) e.helo = *h;
      e.esmtp = f[2] == "1";
    } else if (key == "tls" && need(3)) {
      auto p = dec(f[2]), c = dec(f[3]);
      ok = p && c;
      if (ok) {
        e.tls = f[1] == "1";
        e.tls_protocol = *p;
        e.tls_cipher = *c;
      }
    } else if (key == "body" && need(1)) {
      if (f[1] == "7BIT")
        e.body_type = smtp::BodyType::seven_bit;
      else if (f[1] == "8BITMIME")
        e.body_type = smtp::BodyType::eight_bit_mime;
      else if (f[1] == "BINARYMIME")
        e.body_type = smtp::BodyType::binary_mime;
      else
        ok = false;
    } else if (key == "from" && need(1)) {
      auto v = dec(f[1]);
      ok = v.has_value();
      if (ok) e.mail_from = *v;
      have_from = ok;
    } else if (key == "rcpt" && need(2)) {
      auto a = dec(f[1]), err = dec(f[2]);
      ok = a && err && !a->empty();
      if (ok) r.recipients.push_back({*a, *err});
    } else if (key == "size" && need(1)) {
      std::size_t n = 0;
      ok = parse_int(f[1], n);
      size = n;
    } else {
      return corrupt(fmt::format("unknown or malformed header line '{}'", line.substr(0, 60)));
    }
    if (!ok) return corrupt(fmt::format("bad value in header line '{}'", line.substr(0, 60)));
  }
  if (!have_id || !have_from || !size) return corrupt("id, from or size missing");
  if (r.recipients.empty()) return corrupt("no recipients");
  if (file.size() - pos != *size)
    return corrupt(fmt::format("message is {} bytes, header says {}", file.size() - pos, *size));
  r.content = std::make_shared<const std::string>(file.substr(pos));
  return r;
}

}  // namespace seegw::spool
