#include "seegw/common/log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>

namespace seegw::log {
namespace {

std::mutex g_mutex;
std::string g_program = "seegw";
std::atomic<Level> g_min_level{Level::info};
std::atomic<bool> g_syslog{false};

const char* level_name(Level level) {
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
}

}  // namespace seegw::log
