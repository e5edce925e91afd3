// Reading a whole (small) file: configuration, certificates, messages given on a command line.
#pragma once

#include <string>

#include "seegw/common/error.hpp"

namespace seegw {

// Errc::io "cannot read PATH: reason" when it cannot be opened or read.
Result<std::string> read_file(const std::string& path);

}  // namespace seegw
