// The local administration sockets (the data plane's, seegw-control's): the listening side and
// the client side.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "seegw/common/error.hpp"

namespace seegw {

// A connected AF_UNIX stream socket (close-on-exec); the caller owns the descriptor.
Result<int> unix_connect(const std::filesystem::path& path);

// Sends one line, returns everything the server writes until it closes. A server that says
// nothing for `timeout` is an error (unavailable), never a hang.
Result<std::string> unix_request(const std::filesystem::path& path, const std::string& line,
                                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A listening AF_UNIX stream socket with one thread accepting on it; each connection's
// descriptor goes to `serve` on that thread, which owns it from then on. The socket file is
// created with `mode` (no window with wider permissions) and removed when this goes.
class UnixListener {
 public:
  using Serve = std::function<void(int fd)>;
  static Result<std::unique_ptr<UnixListener>> open(const std::filesystem::path& path, mode_t mode,
                                                    Serve serve);
  ~UnixListener();
  UnixListener(const UnixListener&) = delete;
  UnixListener& operator=(const UnixListener&) = delete;

 private:
  UnixListener() = default;
  void run();
  std::filesystem::path path_;
  Serve serve_;
  int listen_fd_ = -1;
  int stop_fd_ = -1;  // eventfd
  std::thread thread_;
};

}  // namespace seegw
