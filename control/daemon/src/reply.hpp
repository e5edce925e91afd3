// One console client's answer on seegw-control's socket: JSON lines (progress, events), the last
// of which has "ok" and the text (and, for --json, the data).
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <nlohmann/json.hpp>
#include <string>

namespace seegw::daemon {

using Json = nlohmann::json;

// One client's answer: JSON lines, the last of which has "ok".
class Reply {
 public:
  explicit Reply(int fd) : fd_(fd) {}
  bool send(const Json& j) {
    const std::string line = j.dump() + "\n";
    std::size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool progress(std::size_t done, std::size_t total, const std::string& what) {
    return send(Json{{"progress", {{"done", done}, {"total", total}, {"what", what}}}});
  }
  void answer(bool ok, std::string text, Json data = nullptr) {
    ok_ = ok;
    text_ = text;
    Json j{{"ok", ok}, {"text", std::move(text)}};
    if (!data.is_null()) j["data"] = std::move(data);
    send(j);
  }
  void error(std::string text) { answer(false, std::move(text)); }
  // The client hung up (monitor log ends when it does).
  bool gone() {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) return true;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  bool ok() const { return ok_; }
  const std::string& text() const { return text_; }

 private:
  int fd_;
  bool ok_ = false;
  std::string text_ = "no answer";
};

}  // namespace seegw::daemon
