// Reading a whole (small) file: configuration, certificates, messages given on a command line.
#pragma once

#include <string>

#include "seegw/common/error.hpp"

namespace seegw {

// Errc::io "cannot read PATH: reason" when it cannot be opened or read.
Result<std::string> read_file(const std::string& path);

// A secret's first line (an HSM PIN, a directory password), refused (Errc::config) when group or
// others may read the file or it is empty; `what` names it in errors ("PIN file"). Never logged.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

}  // namespace seegw
