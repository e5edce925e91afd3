// OPS-2: notifications are aggregated and rate-limited per recipient and per reason, so a burst of
// blocked or unverified messages cannot become a notification storm. Pure: the caller passes the
// time and owns the locking.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "seegw/policy/policy.hpp"

namespace seegw::policy {

class NoticeLimiter {
 public:
  struct Limits {
    std::size_t per_window = 5;          // notices sent at once per (address, reason) per window
    std::int64_t window_seconds = 3600;  // after it, one summary of what was held back
  };

  explicit NoticeLimiter(Limits limits) : limits_(limits) {}

  // True: send this notice now. False: it is counted into the summary for its window.
  bool admit(const std::string& to, NoticeKind kind, std::int64_t now);

  struct Summary {
    std::string to;
    NoticeKind kind;
    std::size_t suppressed;
    std::int64_t since;
  };
  // Windows that have ended with notices held back: one summary each, then forgotten.
  std::vector<Summary> due(std::int64_t now);
  std::size_t tracked() const { return windows_.size(); }

 private:
  struct Window {
    std::int64_t start = 0;
    std::size_t sent = 0;
    std::size_t suppressed = 0;
  };
  Limits limits_;
  std::map<std::pair<std::string, NoticeKind>, Window> windows_;
};

}  // namespace seegw::policy
