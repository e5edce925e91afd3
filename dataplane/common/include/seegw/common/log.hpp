// Process-wide log: one line per event to stderr (and syslog when enabled). Thread-safe.
// OPS-4: faults, alerts and intrusions are logged as they happen.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace seegw::log {

enum class Level { debug, info, notice, warning, error };

void set_program(std::string_view name);
void set_min_level(Level level);
void enable_syslog(bool on);
void write(Level level, std::string_view line);

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
