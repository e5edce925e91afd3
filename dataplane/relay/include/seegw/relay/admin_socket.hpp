// The data plane's administration socket (a Unix stream socket beside the spool): one command
// line in, a reply out, then the connection closes. Only the gateway's own user (or root) may
// connect (SO_PEERCRED), and the users named in [admin] users (seegw-control under a user of its
// own); seegw-control's richer, role-checked API sits in front of it.
// Commands: status, held, release ID, delete ID, explain ID, reload.
#pragma once

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/common/unix_socket.hpp"

namespace seegw::relay {

class AdminSocket {
 public:
  // The handler gets the command line and returns the reply ("ok ..." or "error: ...").
  using Handler = std::function<std::string(const std::string& command)>;
  static Result<std::unique_ptr<AdminSocket>> open(const std::filesystem::path& path,
                                                   Handler handler,
                                                   std::vector<uid_t> also_allowed = {});

 private:
  AdminSocket() = default;
  void serve(int fd);
  bool allowed(uid_t uid) const;
  Handler handler_;
  std::vector<uid_t> also_allowed_;
  std::unique_ptr<UnixListener> listener_;
};

}  // namespace seegw::relay
