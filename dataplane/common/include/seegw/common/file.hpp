// Reading a whole (small) file: configuration, certificates, messages given on a command line.
#pragma once

#include <filesystem>
#include <string>
#include <string_view>

#include "seegw/common/error.hpp"

namespace seegw {

// Errc::io "cannot read PATH: reason" when it cannot be opened or read.
Result<std::string> read_file(const std::string& path);

// Writes `bytes` to a temporary file beside `path` and renames it over `path`, so a reader sees
// the old file or the new one, never half of one (creates the parent directory). Not fsynced:
// for caches and snapshots that can be made again, not for the spool.
Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

// A secret's first line (an HSM PIN, a directory password), refused (Errc::config) when group or
// others may read the file or it is empty; `what` names it in errors ("PIN file"). Never logged.
Result<std::string> read_secret_file(const std::string& path, std::string_view what);

}  // namespace seegw
