// RFC 5321 §4.1.2 paths: "<local@domain>" as given in MAIL FROM and RCPT TO.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace seegw::smtp {

struct Path {
  std::string address;    // "local@domain", "" for <>, "postmaster" for the bare postmaster
  std::string_view rest;  // what follows the closing '>' (ESMTP parameters)
};

// Parses "<addr> params" (after "FROM:" or "TO:"). Tolerates one space before '<' and strips a
// source route (RFC 5321 §4.1.2 says to accept and ignore it). nullopt on bad syntax.
std::optional<Path> parse_path(std::string_view text);

// The domain part, lower-cased; empty when there is none.
std::string domain_of(std::string_view address);

}  // namespace seegw::smtp
