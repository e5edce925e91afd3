// The trace header we prepend to every accepted message (RFC 5321 §4.4).
#pragma once

#include <chrono>
#include <ctime>
#include <string>
#include <string_view>

#include "seegw/smtp/envelope.hpp"

namespace seegw::smtp {

std::string received_header(const Envelope& envelope, std::string_view our_hostname,
                            std::string_view queue_id, std::chrono::system_clock::time_point when);

// RFC 5322 §3.3 date-time in UTC, e.g. "Sun, 22 Nov 2026 20:41:14 +0000".
std::string rfc5322_date(std::chrono::system_clock::time_point when);
// The same for a time_t; the one date format of every header the gateway writes.
std::string rfc5322_date(std::time_t when);

}  // namespace seegw::smtp
