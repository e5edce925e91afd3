#include "seegw/common/network.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <charconv>
#include <cstring>
#include <string>

namespace seegw {

Result<Network> Network::parse(std::string_view cidr) {
  Network n;
  auto slash = cidr.find('/');
  std::string addr(cidr.substr(0, slash));
  if (inet_pton(AF_INET, addr.c_str(), n.bytes_) == 1) {
    n.family_ = AF_INET;
    n.prefix_ = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), n.bytes_) == 1) {
    n.family_ = AF_INET6;
    n.prefix_ = 128;
  } else {
    return fail(Errc::config, fmt::format("bad network '{}'", cidr));
  }
  if (slash != std::string_view::npos) {
    auto p = cidr.substr(slash + 1);
    int prefix = -1;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (ec != std::errc{} || ptr != p.data() + p.size() || prefix < 0 || prefix > n.prefix_)
      return fail(Errc::config, fmt::format("bad prefix length in '{}'", cidr));
    n.prefix_ = prefix;
  }
  return n;
}

bool Network::contains(std::string_view address) const {
  unsigned char other[16] = {};
  std::string a(address);
  int family = AF_INET6;
  if (inet_pton(AF_INET, a.c_str(), other) == 1) {
    family = AF_INET;
  } else if (inet_pton(AF_INET6, a.c_str(), other) == 1) {
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (family_ == AF_INET && std::memcmp(other, mapped, 12) == 0) {  // ::ffff:a.b.c.d
      std::memmove(other, other + 12, 4);
      family = AF_INET;
    }
  } else {
    return false;
  }
  if (family != family_) return false;
  int bits = prefix_;
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    unsigned mask = bits >= 8 ? 0xffu : (0xffu << (8 - bits)) & 0xffu;
    if ((other[i] & mask) != (bytes_[i] & mask)) return false;
  }
  return true;
}

}  // namespace seegw
