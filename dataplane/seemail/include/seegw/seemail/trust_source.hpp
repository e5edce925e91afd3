// The policy snapshot in use, with one owner: read from its file, re-read when the file changes
// and now and then anyway (certificate states age with the clock), the last good one kept when a
// new file is bad, and judged for OPS-1 (configured, loaded, not too old). Thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "seegw/seemail/trust_state.hpp"

namespace seegw::seemail {

struct TrustSettings {
  std::filesystem::path snapshot;  // empty: none configured
  std::string domain;
  std::vector<std::string> local_domains;
  LearntStore learnt;
  std::chrono::seconds reload_interval{60};
  std::chrono::seconds max_age{7 * 24 * 3600};  // 0 = no limit
};

class TrustSource {
 public:
  // Holds the placeholder (only our own domains, nothing trusted) until the first reload().
  explicit TrustSource(TrustSettings settings);

  std::shared_ptr<const TrustState> current() const;
  // Re-reads the snapshot; the last good one stays when the new one is bad. On success, the
  // domains that gained a usable certificate since the reload before (§2.8: held mail waiting
  // for them may go).
  Result<std::vector<std::string>> reload();
  // Has the file changed, or the interval passed, since the last reload?
  bool reload_due() const;
  // OPS-1: a snapshot is configured, one was loaded, and it is not older than max_age; else why.
  bool usable(std::string& why) const;
  // Reads the file as reload() would, without using it (the console's `check`).
  Result<std::shared_ptr<const TrustState>> read() const;
  // The domains with a usable certificate, as of the last reload.
  std::set<std::string> usable_domains() const;

 private:
  const TrustSettings settings_;
  mutable std::mutex mutex_;  // guards everything below
  std::shared_ptr<const TrustState> current_;
  std::filesystem::file_time_type mtime_{};
  std::chrono::steady_clock::time_point loaded_{};
  bool good_ = false;  // a snapshot was loaded (current_ is not the placeholder)
  std::string error_;  // why the last load failed, while none was ever good
  std::set<std::string> usable_domains_;
  std::mutex reload_mutex_;  // one reload at a time, the file read outside mutex_
};

}  // namespace seegw::seemail
