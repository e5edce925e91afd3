// What the console's command handlers share: times and spans for people, an 80-column table and
// word wrap. The data plane's tables are read with seegw/common/admin_protocol.hpp.
#pragma once

#include <openssl/asn1.h>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace seegw::daemon {

std::int64_t now();
std::string when(std::int64_t t);           // "2026-12-03 23:51:00Z", or "never" for 0
std::string span_of(std::int64_t seconds);  // "90s", "5m", "3h", "2d"
std::string age(std::int64_t since);
// A table that reads well at 80 columns: fixed widths, the last column takes what is left, cells
// too long for their column end in '~'.
std::string render_table(const std::vector<std::string>& heads,
                         const std::vector<std::vector<std::string>>& rows,
                         const std::vector<std::size_t>& widths);
// Words wrapped to 80 columns; lines after the first start with `indent` spaces.
std::string wrap(const std::string& text, std::size_t indent);
std::string asn1_time(const ASN1_TIME* t);

}  // namespace seegw::daemon
