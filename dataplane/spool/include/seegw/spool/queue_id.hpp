// Queue IDs: unique within a spool and sortable by arrival (14 hex digits of microseconds since
// the epoch, strictly increasing within a process and seeded past the newest ID found on disk).
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <string_view>

namespace seegw::spool {

using QueueId = std::string;

class QueueIdSource {
 public:
  QueueId next();
  // After recovery: never hand out an ID at or below one already in the spool. An ID more than
  // a day ahead of the clock is not followed (false): the next IDs keep their 14 digits.
  bool advance_past(std::string_view existing);

 private:
  std::atomic<std::uint64_t> last_{0};
};

bool is_queue_id(std::string_view name);

}  // namespace seegw::spool
