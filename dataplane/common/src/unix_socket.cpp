#include "seegw/common/unix_socket.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace seegw {
namespace {

Result<sockaddr_un> address_of(const std::filesystem::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof a.sun_path) return fail(Errc::config, "socket path too long: " + p);
  std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
  return a;
}

}  // namespace

Result<std::unique_ptr<UnixListener>> UnixListener::open(const std::filesystem::path& path,
                                                         mode_t mode, Serve serve) {
  auto addr = address_of(path);
  if (!addr) return std::unexpected(addr.error());
  std::unique_ptr<UnixListener> l(new UnixListener());
  l->serve_ = std::move(serve);
  l->listen_fd_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (l->listen_fd_ < 0) return fail_errno("socket " + path.string());
  // A stale socket from a previous run; a twin process never gets here (its ports are taken).
  ::unlink(path.c_str());
  const mode_t old = ::umask(~mode & 0777);
  const int bound = ::bind(l->listen_fd_, reinterpret_cast<sockaddr*>(&*addr), sizeof *addr);
  ::umask(old);
  if (bound != 0) return fail_errno("bind " + path.string());
  l->path_ = path;
  if (::listen(l->listen_fd_, 16) != 0) return fail_errno("listen " + path.string());
  l->stop_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (l->stop_fd_ < 0) return fail_errno("eventfd");
  l->thread_ = std::thread([p = l.get()] { p->run(); });
  return l;
}

UnixListener::~UnixListener() {
  if (stop_fd_ >= 0) {
    std::uint64_t one = 1;
    (void)!::write(stop_fd_, &one, sizeof one);
  }
  if (thread_.joinable()) thread_.join();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (stop_fd_ >= 0) ::close(stop_fd_);
  if (!path_.empty()) ::unlink(path_.c_str());
}

void UnixListener::run() {
  while (true) {
    pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {stop_fd_, POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) serve_(fd);
  }
}

Result<int> unix_connect(const std::filesystem::path& path) {
  auto a = address_of(path);
  if (!a) return std::unexpected(a.error());
  const std::string p = path.string();
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&*a), sizeof *a) != 0) {
    auto e = fail_errno("connect " + p);
    e.error().code = Errc::unavailable;
    ::close(fd);
    return e;
  }
  return fd;
}

Result<std::string> unix_request(const std::filesystem::path& path, const std::string& line,
                                 std::chrono::milliseconds timeout) {
  auto fd = unix_connect(path);
  if (!fd) return std::unexpected(fd.error());
  std::string out = line + "\n";
  std::size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::write(*fd, out.data() + off, out.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      auto e = fail_errno("write " + path.string());
      ::close(*fd);
      return e;
    }
    off += static_cast<std::size_t>(n);
  }
  std::string reply;
  char buf[8192];
  while (true) {
    pollfd p{*fd, POLLIN, 0};
    const int ready = ::poll(&p, 1, static_cast<int>(timeout.count()));
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) {
      ::close(*fd);
      return fail(Errc::unavailable, path.string() + " did not answer in time");
    }
    ssize_t n = ::read(*fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buf, static_cast<std::size_t>(n));
  }
  ::close(*fd);
  return reply;
}

}  // namespace seegw
