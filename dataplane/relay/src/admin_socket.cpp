#include "seegw/relay/admin_socket.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

#include "seegw/common/log.hpp"

namespace seegw::relay {
namespace {

Result<sockaddr_un> address_of(const std::filesystem::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof a.sun_path) return fail(Errc::config, "admin socket path too long: " + p);
  std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
  return a;
}

constexpr std::size_t kMaxCommand = 64 * 1024;  // a certificate travels in one line

}  // namespace

Result<std::unique_ptr<AdminSocket>> AdminSocket::open(const std::filesystem::path& path,
                                                       Handler handler) {
  auto addr = address_of(path);
  if (!addr) return std::unexpected(addr.error());
  std::unique_ptr<AdminSocket> s(new AdminSocket());
  s->path_ = path;
  s->handler_ = std::move(handler);
  s->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (s->listen_fd_ < 0) return fail_errno("admin socket");
  // A stale socket from a previous run; a twin gateway never gets here (its SMTP ports are taken).
  ::unlink(path.c_str());
  const mode_t old = ::umask(077);
  const int bound = ::bind(s->listen_fd_, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr);
  ::umask(old);
  if (bound != 0) return fail_errno("bind " + path.string());
  if (::listen(s->listen_fd_, 16) != 0) return fail_errno("listen " + path.string());
  s->stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (s->stop_fd_ < 0) return fail_errno("eventfd");
  s->thread_ = std::thread([p = s.get()] { p->run(); });
  return s;
}

AdminSocket::~AdminSocket() {
  if (stop_fd_ >= 0) {
    std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

void AdminSocket::run() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) continue;
    ucred cred{};
    socklen_t len = sizeof cred;
    std::string reply;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 ||
        (cred.uid != ::getuid() && cred.uid != 0)) {
      log::warning("admin: refused a connection from uid {}", cred.uid);
      reply = "error: permission denied\n";
    } else {
      // One line, read with a deadline so a silent client cannot stall the socket.
      std::string command;
      char buf[512];
      while (command.find('\n') == std::string::npos && command.size() < kMaxCommand) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0) break;
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        command.append(buf, static_cast<std::size_t>(n));
      }
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
}

}  // namespace seegw::relay
