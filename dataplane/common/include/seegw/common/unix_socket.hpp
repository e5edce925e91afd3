// Clients of the local administration sockets (the data plane's, seegw-control's).
#pragma once

#include <chrono>
#include <filesystem>
#include <string>

#include "seegw/common/error.hpp"

namespace seegw {

// A connected AF_UNIX stream socket (close-on-exec); the caller owns the descriptor.
Result<int> unix_connect(const std::filesystem::path& path);

// Sends one line, returns everything the server writes until it closes. A server that says
// nothing for `timeout` is an error (unavailable), never a hang.
Result<std::string> unix_request(const std::filesystem::path& path, const std::string& line,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

}  // namespace seegw
