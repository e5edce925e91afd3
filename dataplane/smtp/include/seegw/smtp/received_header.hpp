// The trace header we prepend to every accepted message (RFC 5321 §4.4).
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "seegw/smtp/envelope.hpp"

namespace seegw::smtp {

std::string received_header(const Envelope& envelope, std::string_view our_hostname,
                            std::string_view queue_id, std::chrono::system_clock::time_point when);

}  // namespace seegw::smtp
