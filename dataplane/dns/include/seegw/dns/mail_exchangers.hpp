// RFC 5321 §5.1: where a domain's mail goes — its MX records by preference (equal ones in random
// order), each exchange's addresses; no MX records: the domain's own addresses (the implicit
// MX); a null MX (RFC 7505): it takes no mail. Blocking: call it off the I/O loops.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "seegw/dns/resolver.hpp"

namespace seegw::dns {

// The addresses to try, in order. Errc::denied: a null MX; Errc::not_found: no such domain, or
// no exchange with an address (both permanent); Errc::unavailable: try later (no answer, DNSSEC
// failure).
Result<std::vector<std::string>> mail_exchanger_addresses(Resolver& resolver,
                                                          std::string_view domain);

}  // namespace seegw::dns
