#include "seegw/netstack/faults.hpp"

namespace seegw::netstack {

void FaultInjector::apply(std::vector<Frame>& frames, Micros now) {
  std::vector<Frame> out;
  for (auto& f : frames) {
    if (chance(rates_.drop)) {
      ++dropped_;
      continue;
    }
    if (chance(rates_.duplicate)) {
      ++duplicated_;
      out.push_back(f);
    }
    if (!held_ && chance(rates_.reorder)) {
      ++reordered_;
      held_ = std::move(f);  // goes after the next frame
      continue;
    }
    out.push_back(std::move(f));
    if (held_) {
      out.push_back(std::move(*held_));
      held_.reset();
    }
  }
  // A frame held back with nothing after it goes now rather than never (its peer would stall).
  if (held_ && out.empty()) {
    out.push_back(std::move(*held_));
    held_.reset();
  }
  if (rates_.delay > 0) {
    for (auto& f : out) delayed_.emplace_back(now + rates_.delay, std::move(f));
    out.clear();
    while (!delayed_.empty() && delayed_.front().first <= now) {
      out.push_back(std::move(delayed_.front().second));
      delayed_.pop_front();
    }
  }
  frames = std::move(out);
}

}  // namespace seegw::netstack
