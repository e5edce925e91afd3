#include "seegw/relay/admin_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "seegw/common/log.hpp"

namespace seegw::relay {
namespace {

constexpr std::size_t kMaxCommand = 64 * 1024;  // a certificate travels in one line

}  // namespace

Result<std::unique_ptr<AdminSocket>> AdminSocket::open(const std::filesystem::path& path,
                                                       Handler handler,
                                                       std::vector<uid_t> also_allowed) {
  std::unique_ptr<AdminSocket> s(new AdminSocket());
  s->handler_ = std::move(handler);
  s->also_allowed_ = std::move(also_allowed);
  // Other users must be able to connect for SO_PEERCRED to judge them; without any, the file
  // mode keeps everyone else out before they reach it.
  const mode_t mode = s->also_allowed_.empty() ? 0600 : 0666;
  auto listener = UnixListener::open(path, mode, [p = s.get()](int fd) { p->serve(fd); });
  if (!listener) return std::unexpected(listener.error());
  s->listener_ = std::move(*listener);
  return s;
}

bool AdminSocket::allowed(uid_t uid) const {
  return uid == ::getuid() || uid == 0 ||
         std::find(also_allowed_.begin(), also_allowed_.end(), uid) != also_allowed_.end();
}

void AdminSocket::serve(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  const bool allowed_peer =
      ::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0 && allowed(cred.uid);
  // The line is read even from a refused peer: closing on unread bytes would reset the
  // connection before it reads why it was refused.
  std::string command;
  char buf[512];
  while (command.find('\n') == std::string::npos && command.size() < kMaxCommand) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    command.append(buf, static_cast<std::size_t>(n));
  }
  std::string reply;
  if (!allowed_peer) {
    log::warning("admin: refused a connection from uid {}", cred.uid);
    reply = "error: permission denied\n";
  } else {
    command = command.substr(0, command.find('\n'));
    if (!command.empty() && command.back() == '\r') command.pop_back();
    reply = command.size() >= kMaxCommand ? "error: command too long\n" : handler_(command);
    if (!reply.ends_with("\n")) reply += "\n";
  }
  std::size_t off = 0;
  while (off < reply.size()) {
    ssize_t n = ::write(fd, reply.data() + off, reply.size() - off);
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

}  // namespace seegw::relay
