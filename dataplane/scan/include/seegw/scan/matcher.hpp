// The trigger-word matcher: one Hyperscan database of the four triggers (TRG-1), compiled once
// and shared by every thread; each thread keeps its own scratch space.
#pragma once

#include <memory>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/scan/classification.hpp"

namespace seegw::scan {

struct Match {
  Trigger trigger;
  std::size_t start;
  std::size_t end;
};

class Matcher {
 public:
  static Result<std::shared_ptr<const Matcher>> create();
  ~Matcher();
  Matcher(const Matcher&) = delete;
  Matcher& operator=(const Matcher&) = delete;

  // Appends every trigger in `text` (leftmost start, one per trigger and start offset).
  Result<void> scan(std::string_view text, std::vector<Match>& out) const;

  // The regular expressions, for documentation and for the raw-Hyperscan benchmark.
  static const std::vector<std::string>& patterns();
  const void* database() const { return db_; }

 private:
  Matcher() = default;
  void* db_ = nullptr;  // hs_database_t*
};

}  // namespace seegw::scan
