#include "seegw/common/unix_socket.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>

namespace seegw {

Result<int> unix_connect(const std::filesystem::path& path) {
  sockaddr_un a{};
  a.sun_family = AF_UNIX;
  const std::string p = path.string();
  if (p.size() >= sizeof a.sun_path) return fail(Errc::config, "socket path too long: " + p);
  std::memcpy(a.sun_path, p.c_str(), p.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail_errno("socket");
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
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
