// The audit log (OPS-4): every administrative act, one JSON line each, appended and synced before
// the act's answer goes out. Each record carries the SHA-256 of the one before it and its own
// hash over that link and its fields, so an edited, removed or reordered record breaks the chain;
// a head file beside the log (sequence and hash of the last record) shows a cut-off tail.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "seegw/common/error.hpp"

namespace seegw::audit {

struct AuditEntry {
  std::uint64_t seq = 0;  // set by append
  std::int64_t time = 0;  // Unix seconds; set by append when 0
  std::uint32_t uid = 0;
  std::string user;     // the account name, or "uid N"
  std::string role;     // auditor, operator, admin, none
  std::string command;  // as the daemon understood it ("queue release 0123...")
  std::string outcome;  // "ok", "denied", "error: ..."
  std::string hash;     // set by append
};

class AuditLog {
 public:
  // Opens (creating) the log and continues its chain. A log whose chain is already broken is
  // still appended to — refusing would stop all administration — but `problem()` says so.
  static Result<std::unique_ptr<AuditLog>> open(const std::filesystem::path& path);
  ~AuditLog();
  AuditLog(const AuditLog&) = delete;
  AuditLog& operator=(const AuditLog&) = delete;

  // Thread-safe; on return the record is on stable storage.
  Result<AuditEntry> append(AuditEntry entry);
  const std::filesystem::path& path() const { return path_; }

 private:
  AuditLog() = default;
  std::filesystem::path path_;
  int fd_ = -1;
  std::mutex mutex_;
  std::uint64_t last_seq_ = 0;
  std::string last_hash_;
};

struct AuditVerification {
  std::size_t records = 0;
  bool intact = false;
  std::size_t bad_line = 0;  // 1-based; 0 when intact or when the problem is the tail
  std::string problem;
};

AuditVerification verify_audit_log(const std::filesystem::path& path);

// The last `count` records, oldest first (for `audit show`); lines that do not parse are skipped
// here — `verify` is what reports them.
Result<std::vector<AuditEntry>> read_audit_log(const std::filesystem::path& path,
                                               std::size_t count);

std::string genesis_hash();  // the "previous hash" of the first record

}  // namespace seegw::audit
