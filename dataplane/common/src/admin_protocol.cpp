#include "seegw/common/admin_protocol.hpp"

#include <fmt/format.h>

#include <charconv>

#include "seegw/common/text.hpp"

namespace seegw::admin {
namespace {

std::string cell(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) out.push_back(c == '\t' || c == '\n' || c == '\r' ? ' ' : c);
  return out;
}

std::string list(const std::vector<std::string>& items) {
  std::string out;
  for (const auto& i : items) out += (out.empty() ? "" : ",") + cell(i);
  return out;
}

template <class Int>
bool number(const std::string& text, Int& out) {
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && p == text.data() + text.size();
}

// Every row line of the answer, split into exactly `cells` cells, through `make`.
template <class Row, class Make>
Result<std::vector<Row>> rows(std::string_view answer, std::size_t cells, const char* verb,
                              Make make) {
  const auto first_end = answer.find('\n');
  const std::string_view header = answer.substr(0, first_end);
  if (header != kRowsHeader)
    return fail(Errc::protocol, fmt::format("the data plane's '{}' answer starts '{}', not '{}': "
                                            "a different admin protocol version",
                                            verb, header.substr(0, 60), kRowsHeader));
  std::vector<Row> out;
  std::size_t line_no = 1;
  for (const auto& line :
       split(first_end == std::string_view::npos ? "" : answer.substr(first_end + 1), '\n')) {
    ++line_no;
    if (line.empty()) continue;
    auto c = split(line, '\t');
    Row row;
    if (c.size() != cells || !make(c, row))
      return fail(Errc::protocol, fmt::format("the data plane's '{}' answer, line {}: {} cells "
                                              "where {} were expected, or a bad number: '{}'",
                                              verb, line_no, c.size(), cells, line.substr(0, 80)));
    out.push_back(std::move(row));
  }
  return out;
}

std::vector<std::string> recipients_of(const std::string& text) {
  return text.empty() ? std::vector<std::string>{} : split(text, ',');
}

}  // namespace

std::string encode(const HeldRow& r) {
  return fmt::format("{}\t{}\t{}\t{}\t{}\n", cell(r.id), r.arrival, cell(r.sender),
                     list(r.recipients), cell(r.reason));
}

std::string encode(const QueueRow& r) {
  return fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", cell(r.id), cell(r.state), r.arrival,
                     r.next_attempt, cell(r.sender), list(r.recipients), cell(r.last_error));
}

std::string encode(const LogRow& r) {
  return fmt::format("{}\t{}\t{}\t{}\t{}\n", r.seq, r.time_ms, cell(r.level), cell(r.program),
                     cell(r.text));
}

std::string encode(const CertificateRow& r) {
  return fmt::format("{}\t{}\t{}\t{}\t{}\n", cell(r.domain), cell(r.source), cell(r.state),
                     cell(r.subject), cell(r.not_after));
}

std::string encode(const KeyRow& r) {
  return fmt::format("{}\t{}\t{}\t{}\n", cell(r.label), cell(r.type), cell(r.use),
                     cell(r.protection));
}

Result<std::vector<HeldRow>> decode_held(std::string_view answer) {
  return rows<HeldRow>(answer, 5, "held", [](const auto& c, HeldRow& r) {
    r = {c[0], 0, c[2], recipients_of(c[3]), c[4]};
    return number(c[1], r.arrival);
  });
}

Result<std::vector<QueueRow>> decode_queue(std::string_view answer) {
  return rows<QueueRow>(answer, 7, "queue", [](const auto& c, QueueRow& r) {
    r = {c[0], c[1], 0, 0, c[4], recipients_of(c[5]), c[6]};
    return number(c[2], r.arrival) && number(c[3], r.next_attempt);
  });
}

Result<std::vector<LogRow>> decode_log(std::string_view answer) {
  return rows<LogRow>(answer, 5, "log", [](const auto& c, LogRow& r) {
    r = {0, 0, c[2], c[3], c[4]};
    return number(c[0], r.seq) && number(c[1], r.time_ms);
  });
}

Result<std::vector<CertificateRow>> decode_certificates(std::string_view answer) {
  return rows<CertificateRow>(answer, 5, "certificates", [](const auto& c, CertificateRow& r) {
    r = {c[0], c[1], c[2], c[3], c[4]};
    return true;
  });
}

Result<std::vector<KeyRow>> decode_keys(std::string_view answer) {
  return rows<KeyRow>(answer, 4, "key list", [](const auto& c, KeyRow& r) {
    r = {c[0], c[1], c[2], c[3]};
    return true;
  });
}

}  // namespace seegw::admin
