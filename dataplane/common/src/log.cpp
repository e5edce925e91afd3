#include "seegw/common/log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>

namespace seegw::log {
namespace {

std::mutex g_mutex;
std::string g_program = "seegw";
std::atomic<Level> g_min_level{Level::info};
std::atomic<bool> g_syslog{false};
constexpr std::size_t kEventsKept = 2000;
std::deque<Event> g_events;  // guarded by g_mutex
std::uint64_t g_event_seq = 0;
std::condition_variable g_event_added;

}  // namespace

std::string_view level_name(Level level) {
  switch (level) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::notice:
      return "notice";
    case Level::warning:
      return "warning";
    case Level::error:
      return "error";
  }
  return "?";
}

namespace {

int syslog_priority(Level level) {
  switch (level) {
    case Level::debug:
      return LOG_DEBUG;
    case Level::info:
      return LOG_INFO;
    case Level::notice:
      return LOG_NOTICE;
    case Level::warning:
      return LOG_WARNING;
    case Level::error:
      return LOG_ERR;
  }
  return LOG_INFO;
}

}  // namespace

void set_program(std::string_view name) {
  std::lock_guard lock(g_mutex);
  g_program = name;
}

void set_min_level(Level level) { g_min_level = level; }

void enable_syslog(bool on) {
  std::lock_guard lock(g_mutex);
  if (on && !g_syslog) openlog(g_program.c_str(), LOG_PID | LOG_NDELAY, LOG_MAIL);
  g_syslog = on;
}

void write(Level level, std::string_view line) {
  if (level < g_min_level.load(std::memory_order_relaxed)) return;
  const auto now = std::chrono::system_clock::now();
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch());
  std::time_t secs = ms.count() / 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string out = fmt::format("{}.{:03}Z {}[{}] {}: {}\n", stamp, ms.count() % 1000, g_program,
                                getpid(), level_name(level), line);
  std::lock_guard lock(g_mutex);
  ::write(STDERR_FILENO, out.data(), out.size());
  if (g_syslog) syslog(syslog_priority(level), "%.*s", static_cast<int>(line.size()), line.data());
  if (level >= Level::warning) {
    g_events.push_back(Event{++g_event_seq, ms.count(), level, g_program, std::string(line)});
    if (g_events.size() > kEventsKept) g_events.pop_front();
    g_event_added.notify_all();
  }
}

std::vector<Event> events_after(std::uint64_t after, std::size_t max) {
  std::lock_guard lock(g_mutex);
  std::vector<Event> out;
  for (const auto& e : g_events)
    if (e.seq > after && out.size() < max) out.push_back(e);
  return out;
}

bool wait_for_event(std::uint64_t after, std::chrono::milliseconds timeout) {
  std::unique_lock lock(g_mutex);
  return g_event_added.wait_for(lock, timeout, [&] { return g_event_seq > after; });
}

}  // namespace seegw::log
