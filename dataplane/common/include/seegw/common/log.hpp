// Process-wide log: one line per event to stderr (and syslog when enabled). Thread-safe.
// OPS-4: faults, alerts and intrusions are logged as they happen.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace seegw::log {

enum class Level { debug, info, notice, warning, error };

void set_program(std::string_view name);
void set_min_level(Level level);
void enable_syslog(bool on);
void write(Level level, std::string_view line);

// OPS-4's real-time view: the last events at warning or above (faults, alerts, intrusions) are
// kept in memory, numbered, for `show log` and `monitor log`.
struct Event {
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;  // Unix milliseconds
  Level level = Level::warning;
  std::string program;
  std::string text;
};
std::string_view level_name(Level level);
// Events numbered above `after`, oldest first, at most `max`.
std::vector<Event> events_after(std::uint64_t after, std::size_t max = 1000);
// Waits until an event numbered above `after` exists or `timeout` passes; true if one does.
bool wait_for_event(std::uint64_t after, std::chrono::milliseconds timeout);

template <class... Args>
void debug(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::debug, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void info(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::info, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void notice(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::notice, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void warning(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::warning, fmt::format(f, std::forward<Args>(args)...));
}
template <class... Args>
void error(fmt::format_string<Args...> f, Args&&... args) {
  write(Level::error, fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace seegw::log
