// An address range in CIDR notation (IPv4 or IPv6): internal networks, trusted servers.
#pragma once

#include <string_view>

#include "seegw/common/error.hpp"

namespace seegw {

class Network {
 public:
  static Result<Network> parse(std::string_view cidr);
  // IPv4-mapped IPv6 addresses (::ffff:a.b.c.d) match IPv4 ranges.
  bool contains(std::string_view address) const;

 private:
  int family_ = 0;
  unsigned char bytes_[16] = {};
  int prefix_ = 0;
};

}  // namespace seegw
