// The epoll event loop and the stream connection on real kernel sockets: tasks posted from
// another thread run on the loop's thread in order and stop() ends run(); a connection delivers
// what its peer wrote, sends what it is given, and is told once when the peer goes away.
#include "seegw/io/event_loop.hpp"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <thread>
#include <vector>

#include "seegw/io/stream_connection.hpp"

namespace seegw::io {
namespace {

TEST(EventLoop, PostedTasksRunOnTheLoopsThreadInOrderAndStopEndsRun) {
  EventLoop loop;
  std::thread::id ran_on;
  std::vector<int> order;
  std::thread runner([&] { loop.run(); });
  for (int i = 0; i < 100; ++i)
    loop.post([&, i] {
      ran_on = std::this_thread::get_id();
      order.push_back(i);
    });
  loop.post([&] { loop.stop(); });
  runner.join();
  ASSERT_EQ(order.size(), 100u);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(order[i], i);
  EXPECT_NE(ran_on, std::this_thread::get_id());
}

// Echoes every byte back and records what it saw.
class Echo : public StreamConnection {
 public:
  using StreamConnection::StreamConnection;
  std::string received, closed_because;
  int closed_calls = 0;

 protected:
  void on_data(std::string_view data) override {
    received.append(data);
    send(data);
  }
  void on_closed(std::string_view reason) override {
    ++closed_calls;
    closed_because = reason;
    loop().stop();
  }
};

TEST(StreamConnection, DeliversWhatThePeerWroteSendsItBackAndTellsOnceOfTheClose) {
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
  EventLoop loop;
  auto echo = std::make_unique<Echo>(loop, fds[0]);
  const std::string sent = "EHLO client.example\r\n" + std::string(200000, 'x');
  std::string back;
  std::thread peer([&] {
    std::size_t off = 0;
    char buf[65536];
    while (back.size() < sent.size()) {
      if (off < sent.size()) {
        ssize_t n = ::send(fds[1], sent.data() + off, sent.size() - off, MSG_DONTWAIT);
        if (n > 0) off += static_cast<std::size_t>(n);
      }
      ssize_t r = ::recv(fds[1], buf, sizeof buf, MSG_DONTWAIT);
      if (r > 0) back.append(buf, static_cast<std::size_t>(r));
      if (r <= 0 && off == sent.size()) std::this_thread::yield();
    }
    ::close(fds[1]);
  });
  loop.run();  // until the peer's close reaches on_closed
  peer.join();
  EXPECT_EQ(echo->received, sent);
  EXPECT_EQ(back, sent);
  EXPECT_EQ(echo->closed_calls, 1);
  EXPECT_TRUE(echo->closed());
}

TEST(ListenTcp, AnAddressInUseIsAClearError) {
  std::string error;
  const int first = listen_tcp("127.0.0.1", 0, false, error);
  ASSERT_GE(first, 0) << error;
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  ASSERT_EQ(::getsockname(first, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const auto port = ntohs(reinterpret_cast<sockaddr_in*>(&addr)->sin_port);
  EXPECT_LT(listen_tcp("127.0.0.1", port, false, error), 0);
  EXPECT_NE(error.find(std::to_string(port)), std::string::npos) << error;
  ::close(first);
}

}  // namespace
}  // namespace seegw::io
