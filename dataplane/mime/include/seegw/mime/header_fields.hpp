// The RFC 5322 header toolkit, one for the gateway: a walker over a raw message's header section
// (each field with its continuation lines, lines ending in CRLF or a bare LF), and what is built
// on it — a field's unfolded value, removing fields, keeping only some — plus the Date format.
// The scanner's parser, the SEEMail stage's message edits and the CMS outer headers all use it,
// so a folded or malformed field is read the same way everywhere.
#pragma once

#include <chrono>
#include <ctime>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace seegw::mime {

struct FieldSpan {
  std::size_t begin = 0, end = 0;  // the field's bytes: its first line and continuation lines
  std::string_view name;           // before the colon, trimmed; the whole line when there is none
  bool has_colon = false;          // false: not a header field (tolerated, kept as it is)
};

struct HeaderSection {
  std::vector<FieldSpan> fields;
  std::size_t body = 0;  // where the body starts (after the empty line), or the message's size
};

HeaderSection header_fields(std::string_view message);

// The field's value with the line breaks gone and the white space kept (RFC 5322 §2.2.3),
// trimmed.
std::string unfolded_value(std::string_view message, const FieldSpan& field);
// The first field of that name, unfolded, or "" (case-insensitive name).
std::string header_value(std::string_view message, std::string_view name);
// Every field of that name removed (with its continuation lines); the rest byte for byte.
std::string remove_headers(std::string_view message, std::string_view name);
// The header section's fields that `keep` admits (by name), byte for byte, without the body.
std::string kept_headers(std::string_view message,
                         const std::function<bool(std::string_view name)>& keep);

// The first address of an address-list value ("Name <a@b>" or "a@b"), or "".
std::string first_address(std::string_view value);

// "Fri, 04 Dec 2026 02:38:02 +0000" (RFC 5322 §3.3, in UTC).
std::string rfc5322_date(std::time_t when);
std::string rfc5322_date(std::chrono::system_clock::time_point when);

}  // namespace seegw::mime
