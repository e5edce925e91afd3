// Loss made on purpose, for tests of the poll-mode data plane: this kernel has no netem, so the
// backend drops, duplicates, reorders and delays frames itself, by rate, with a fixed seed (a
// failing run can be repeated). Configured only by tests ([dpdk.faults]); off it costs nothing.
#pragma once

#include <cstdint>
#include <deque>
#include <random>
#include <vector>

#include "seegw/netstack/stack.hpp"

namespace seegw::netstack {

struct FaultRates {
  double drop = 0, duplicate = 0, reorder = 0;
  Micros delay = 0;
  std::uint64_t seed = 1;
};

class FaultInjector {
 public:
  explicit FaultInjector(FaultRates rates) : rates_(rates), rng_(rates.seed) {}
  // Frames in, frames that go on now out (some dropped, doubled, swapped or held back).
  void apply(std::vector<Frame>& frames, Micros now);
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t duplicated() const { return duplicated_; }
  std::uint64_t reordered() const { return reordered_; }

 private:
  bool chance(double rate) {
    return rate > 0 && std::uniform_real_distribution<>(0, 1)(rng_) < rate;
  }
  FaultRates rates_;
  std::mt19937_64 rng_;
  std::deque<std::pair<Micros, Frame>> delayed_;
  std::optional<Frame> held_;  // one frame kept back to swap with the next
  std::uint64_t dropped_ = 0, duplicated_ = 0, reordered_ = 0;
};

}  // namespace seegw::netstack
