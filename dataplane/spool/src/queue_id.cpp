#include "seegw/spool/queue_id.hpp"

#include <fmt/format.h>

#include <charconv>
#include <chrono>

namespace seegw::spool {

constexpr std::size_t kIdLength = 14;

namespace {
std::uint64_t now_us() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}
constexpr std::uint64_t kDayUs = 86'400'000'000ULL;
}  // namespace

QueueId QueueIdSource::next() {
  const auto now = now_us();
  std::uint64_t last = last_.load(std::memory_order_relaxed);
  std::uint64_t id;
  do {
    id = std::max(now, last + 1);
  } while (!last_.compare_exchange_weak(last, id, std::memory_order_relaxed));
  return fmt::format("{:014X}", id);
}

bool QueueIdSource::advance_past(std::string_view existing) {
  if (!is_queue_id(existing)) return false;
  std::uint64_t value = 0;
  std::from_chars(existing.data(), existing.data() + existing.size(), value, 16);
  if (value > now_us() + kDayUs) return false;
  std::uint64_t last = last_.load();
  while (last < value && !last_.compare_exchange_weak(last, value)) {
  }
  return true;
}

bool is_queue_id(std::string_view name) {
  if (name.size() != kIdLength) return false;
  for (char c : name)
    if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

}  // namespace seegw::spool
