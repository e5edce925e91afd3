#include "seegw/policy/notice_limiter.hpp"

#include "seegw/common/text.hpp"

namespace seegw::policy {

bool NoticeLimiter::admit(const std::string& to, NoticeKind kind, std::int64_t now) {
  auto& w = windows_[{ascii_lower(to), kind}];
  if (w.sent == 0 && w.suppressed == 0) w.start = now;
  if (now - w.start >= limits_.window_seconds && w.suppressed == 0) {
    w = Window{now, 0, 0};  // a quiet window ended: start afresh
  }
  if (w.sent < limits_.per_window && now - w.start < limits_.window_seconds) {
    ++w.sent;
    return true;
  }
  ++w.suppressed;
  return false;
}

std::vector<NoticeLimiter::Summary> NoticeLimiter::due(std::int64_t now) {
  std::vector<Summary> out;
  for (auto it = windows_.begin(); it != windows_.end();) {
    const Window& w = it->second;
    if (now - w.start < limits_.window_seconds) {
      ++it;
      continue;
    }
    if (w.suppressed) out.push_back({it->first.first, it->first.second, w.suppressed, w.start});
    it = windows_.erase(it);
  }
  return out;
}

}  // namespace seegw::policy
