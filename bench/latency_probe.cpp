// bench/latency's probe: an open-loop SMTP load on the gateway and the sink the gateway relays to,
// in one process so both ends read the same clock. Each message goes to its own recipient
// (<local>+<seq>@<domain>: the envelope survives SEEMail's encryption, headers do not), so the
// sink knows which message arrived. Per message it prints one CSV line:
//   seq,end_of_data_ns,reply_250_ns,at_sink_ns
// end_of_data: the last byte of "<CRLF>.<CRLF>" written to the gateway; reply_250: its 250 read;
// at_sink: the gateway's "<CRLF>.<CRLF>" read at the sink. --rate 0 sends as fast as the
// connections go (the closed loop that finds the sustained rate).
//
// usage: latency_probe --gateway PORT --sink PORT --messages N --rate PER_S --connections C
//                      --size BYTES --from ADDR --to LOCAL@DOMAIN --subject TEXT
#include <arpa/inet.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Options {
  int gateway_port = 0, sink_port = 0;
  long messages = 1000, connections = 20, size = 10240;
  double rate = 0;
  std::string from = "alice@agency-a.govt.nz", to = "carol@agency-c.govt.nz",
              subject = "[RESTRICTED] budget figures";
};

struct Times {
  std::atomic<std::int64_t> end_of_data{0}, reply{0}, at_sink{0};
};

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// A blocking SMTP line reader on one socket. What is queued with send() goes out just before
// the next read blocks: the replies to pipelined commands leave in one segment, as Postfix's
// smtpd sends them (one write per reply would meet Nagle and the peer's delayed ACK).
class Lines {
 public:
  explicit Lines(int fd) : fd_(fd) {}
  // The next line without CRLF; false on EOF or error.
  bool next(std::string& line) {
    for (;;) {
      if (auto at = buffer_.find("\r\n"); at != std::string::npos) {
        line = buffer_.substr(0, at);
        buffer_.erase(0, at + 2);
        return true;
      }
      if (!out_.empty() && !flush()) return false;
      char chunk[65536];
      const ssize_t n = ::read(fd_, chunk, sizeof chunk);
      if (n <= 0) return false;
      buffer_.append(chunk, static_cast<std::size_t>(n));
    }
  }
  // A whole reply (the last line of a multi-line one); its code, or 0 on EOF.
  int reply() {
    std::string line;
    do {
      if (!next(line)) return 0;
    } while (line.size() > 3 && line[3] == '-');
    return line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : 0;
  }
  // Until "." alone on a line (the data's end); false on EOF.
  bool skip_data() {
    std::string line;
    while (next(line))
      if (line == ".") return true;
    return false;
  }

  void send(std::string_view reply) { out_.append(reply); }
  bool flush() {
    const bool ok = write_all(fd_, out_);
    out_.clear();
    return ok;
  }

 private:
  int fd_;
  std::string buffer_, out_;
};

int listen_on(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  const int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 128) != 0) {
    std::perror("latency_probe: sink");
    std::exit(1);
  }
  return fd;
}

int connect_to(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    std::perror("latency_probe: gateway");
    std::exit(1);
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

// The sequence number in "<local>+<seq>@domain", or -1.
long sequence_of(std::string_view rcpt_line) {
  const auto plus = rcpt_line.find('+'), at = rcpt_line.find('@');
  if (plus == std::string_view::npos || at == std::string_view::npos || at < plus) return -1;
  long seq = -1;
  std::from_chars(rcpt_line.data() + plus + 1, rcpt_line.data() + at, seq);
  return seq;
}

// One connection from the gateway: a minimal SMTP server that times each message's end.
class SinkSession {
 public:
  SinkSession(int fd, std::vector<Times>& times) : fd_(fd), in_(fd), times_(times) {}

  void run() {
    using Verb = bool (SinkSession::*)(const std::string&);
    static const std::map<std::string, Verb> verbs{
        {"EHLO", &SinkSession::ehlo}, {"HELO", &SinkSession::ehlo}, {"MAIL", &SinkSession::mail},
        {"RCPT", &SinkSession::rcpt}, {"DATA", &SinkSession::data}, {"QUIT", &SinkSession::quit}};
    in_.send("220 latency-probe ESMTP\r\n");
    std::string line;
    while (in_.next(line)) {
      std::string verb = line.substr(0, 4);
      for (auto& c : verb) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      const auto v = verbs.find(verb);
      if (v == verbs.end() ? !ok(line) : !(this->*(v->second))(line)) break;
    }
    ::close(fd_);
  }

 private:
  // As Postfix answers: PIPELINING lets the gateway send MAIL, RCPT and DATA at once.
  bool ehlo(const std::string&) {
    in_.send("250-latency-probe\r\n250-PIPELINING\r\n250 8BITMIME\r\n");
    return true;
  }
  bool mail(const std::string&) {
    seqs_.clear();
    in_.send("250 2.1.0 ok\r\n");
    return true;
  }
  bool rcpt(const std::string& line) {
    seqs_.push_back(sequence_of(line));
    in_.send("250 2.1.5 ok\r\n");
    return true;
  }
  bool data(const std::string&) {
    in_.send("354 go ahead\r\n");
    if (!in_.skip_data()) return false;
    const auto t = now_ns();
    for (long s : seqs_)
      if (s >= 0 && static_cast<std::size_t>(s) < times_.size()) times_[s].at_sink = t;
    in_.send("250 2.0.0 ok\r\n");
    return true;
  }
  bool quit(const std::string&) {
    in_.send("221 2.0.0 bye\r\n");
    in_.flush();
    return false;
  }
  bool ok(const std::string&) {  // RSET, NOOP
    in_.send("250 2.0.0 ok\r\n");
    return true;
  }

  int fd_;
  Lines in_;
  std::vector<Times>& times_;
  std::vector<long> seqs_;
};

std::string message_text(const Options& o) {
  std::string body;
  const std::string line(76, 'x');
  while (static_cast<long>(body.size()) < o.size) body += line + "\r\n";
  return fmt::format("From: <{}>\r\nTo: <{}>\r\nSubject: {}\r\n\r\n{}", o.from, o.to, o.subject,
                     body);
}

// One client connection: takes the next message number, waits for its time (open loop), sends.
void load_session(const Options& o, const std::string& text, std::int64_t start,
                  std::atomic<long>& next, std::vector<Times>& times) {
  const int fd = connect_to(o.gateway_port);
  Lines in(fd);
  const auto at = o.to.find('@');
  const std::string local = o.to.substr(0, at), domain = o.to.substr(at);
  if (in.reply() != 220 || !write_all(fd, "EHLO probe.example\r\n") || in.reply() != 250) {
    std::fprintf(stderr, "latency_probe: the gateway did not greet\n");
    std::exit(1);
  }
  for (long seq = next++; seq < o.messages; seq = next++) {
    if (o.rate > 0) {
      const auto due = start + static_cast<std::int64_t>(1e9 * static_cast<double>(seq) / o.rate);
      std::this_thread::sleep_until(Clock::time_point(std::chrono::nanoseconds(due)));
    }
    write_all(fd, fmt::format("MAIL FROM:<{}>\r\n", o.from));
    const int mail = in.reply();
    write_all(fd, fmt::format("RCPT TO:<{}+{}{}>\r\n", local, seq, domain));
    const int rcpt = in.reply();
    write_all(fd, "DATA\r\n");
    if (mail != 250 || rcpt != 250 || in.reply() != 354) {
      std::fprintf(stderr, "latency_probe: message %ld refused (%d %d)\n", seq, mail, rcpt);
      std::exit(1);
    }
    write_all(fd, text);
    write_all(fd, "\r\n.\r\n");
    times[seq].end_of_data = now_ns();
    if (in.reply() != 250) {
      std::fprintf(stderr, "latency_probe: message %ld not accepted\n", seq);
      std::exit(1);
    }
    times[seq].reply = now_ns();
  }
  write_all(fd, "QUIT\r\n");
  in.reply();
  ::close(fd);
}

Options parse(int argc, char** argv) {
  Options o;
  const std::map<std::string_view, std::function<void(const char*)>> flags{
      {"--gateway", [&](const char* v) { o.gateway_port = std::atoi(v); }},
      {"--sink", [&](const char* v) { o.sink_port = std::atoi(v); }},
      {"--messages", [&](const char* v) { o.messages = std::atol(v); }},
      {"--rate", [&](const char* v) { o.rate = std::atof(v); }},
      {"--connections", [&](const char* v) { o.connections = std::atol(v); }},
      {"--size", [&](const char* v) { o.size = std::atol(v); }},
      {"--from", [&](const char* v) { o.from = v; }},
      {"--to", [&](const char* v) { o.to = v; }},
      {"--subject", [&](const char* v) { o.subject = v; }},
  };
  for (int i = 1; i + 1 < argc; i += 2) {
    auto f = flags.find(argv[i]);
    if (f == flags.end()) {
      std::fprintf(stderr, "latency_probe: unknown option %s\n", argv[i]);
      std::exit(2);
    }
    f->second(argv[i + 1]);
  }
  if (o.gateway_port <= 0 || o.sink_port <= 0 || o.messages <= 0 || o.connections <= 0 ||
      o.to.find('@') == std::string::npos) {
    std::fprintf(stderr,
                 "usage: latency_probe --gateway PORT --sink PORT [--messages N] [--rate R] "
                 "[--connections C] [--size B] [--from A] [--to L@D] [--subject S]\n");
    std::exit(2);
  }
  return o;
}

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  std::vector<Times> times(static_cast<std::size_t>(o.messages));
  const int listener = listen_on(o.sink_port);
  std::thread([&] {
    for (;;) {
      const int fd = ::accept(listener, nullptr, nullptr);
      if (fd < 0) continue;
      std::thread([fd, &times] { SinkSession(fd, times).run(); }).detach();
    }
  }).detach();
  std::fprintf(stderr, "ready\n");  // the sink listens: the driver may start the gateway's load
  std::fflush(stderr);
  // The driver says when to start (the gateway may need the sink up before it is ready).
  char go[8];
  if (!std::fgets(go, sizeof go, stdin)) return 1;

  const std::string text = message_text(o);
  std::atomic<long> next{0};
  const std::int64_t start = now_ns();
  std::vector<std::thread> clients;
  for (long c = 0; c < o.connections; ++c)
    clients.emplace_back(load_session, std::cref(o), std::cref(text), start, std::ref(next),
                         std::ref(times));
  for (auto& t : clients) t.join();
  const std::int64_t sent = now_ns();
  // Every message at the sink, or a minute after the last was accepted.
  for (std::size_t i = 0; i < times.size();) {
    if (times[i].at_sink.load() != 0) {
      ++i;
      continue;
    }
    if (now_ns() - sent > 60'000'000'000) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf("# sent %ld messages in %.3f s\n", o.messages, (sent - start) / 1e9);
  for (std::size_t i = 0; i < times.size(); ++i)
    std::printf("%zu,%lld,%lld,%lld\n", i, static_cast<long long>(times[i].end_of_data.load()),
                static_cast<long long>(times[i].reply.load()),
                static_cast<long long>(times[i].at_sink.load()));
  return 0;
}
