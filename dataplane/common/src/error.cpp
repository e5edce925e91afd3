#include "seegw/common/error.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>

namespace seegw {

std::unexpected<Error> fail_errno(std::string_view what) {
  const int saved = errno;
  return std::unexpected(Error{Errc::io, fmt::format("{}: {}", what, std::strerror(saved))});
}

}  // namespace seegw
