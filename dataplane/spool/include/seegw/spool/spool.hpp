// The spool: a directory per message state, every state change a rename, so a crash at any
// instant leaves each message in exactly one consistent state (Postfix's queue discipline).
// Nothing is acknowledged to a client before store_incoming() reports it is on stable storage.
#pragma once

#include <atomic>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/spool/spool_record.hpp"

namespace seegw::spool {

enum class Queue { incoming, active, deferred, hold, corrupt, done };
std::string_view queue_name(Queue queue);

// How stores reach stable storage. Both keep the promise; group trades unrelated dirty data on
// the same file system being flushed too for far fewer flushes per message.
enum class SyncMode {
  per_file,  // write, fdatasync each file, rename, fsync the directory (once per batch)
  group,     // write every file of a batch, one syncfs(), renames, one directory fsync
};

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> open(const std::filesystem::path& root, SyncMode mode);
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  QueueIdSource& ids() { return ids_; }
  const std::filesystem::path& root() const { return root_; }

  // Durable stores, batched: the callback runs on the spool's writer thread once the record is
  // on stable storage in incoming/ (ok) or could not be stored (error: the client gets a 4xx).
  using StoredCallback = std::function<void(Result<void>)>;
  void store_incoming(SpoolRecord record, StoredCallback done);
  // Synchronous durable write into a queue (replacing any file of that ID there).
  Result<void> write(Queue queue, const SpoolRecord& record);

  Result<void> move(const QueueId& id, Queue from, Queue to);
  Result<void> remove(Queue queue, const QueueId& id);
  Result<SpoolRecord> load(Queue queue, const QueueId& id) const;
  // Moves an unreadable file aside so it never stops the gateway; logs why.
  void quarantine(Queue from, const QueueId& id, std::string_view reason);
  Result<std::vector<QueueId>> list(Queue queue) const;
  // Removes the half-written ".ID.tmp" files an older seegw left in the queues when it crashed
  // (they were never acknowledged); today a record is written in .free and renamed when whole.
  std::size_t remove_temporaries();

  // Free space kept for what is already accepted (its retries, bounces, notices): new mail is
  // turned away before its body is sent when taking it would leave less than this.
  struct Reserve {
    std::uint64_t bytes = 64u << 20;
    std::uint64_t inodes = 1024;
  };
  void set_reserve(Reserve reserve) { reserve_ = reserve; }
  // Is there room for a message of `bytes` (0: size not declared) above the reserve? The file
  // system is asked at most four times a second; a change either way is logged once.
  bool room_for(std::uint64_t bytes);
  // For `status`: what the last look found, and the reserve.
  struct Space {
    std::uint64_t free_bytes, free_inodes;
    Reserve reserve;
    bool short_of_space;
  };
  Space space() {
    const bool room = room_for(0);
    return {free_bytes_.load(), free_inodes_.load(), reserve_, !room};
  }
  std::filesystem::path path_of(Queue queue, const QueueId& id) const;

 private:
  Reserve reserve_;
  std::atomic<std::int64_t> space_checked_ns_{0};
  std::atomic<std::uint64_t> free_bytes_{~0ull}, free_inodes_{~0ull};
  std::atomic<bool> short_of_space_{false};
  // Finished files are renamed into <root>/.free and reused for new messages instead of being
  // unlinked and created again: inode allocation and eviction were the largest kernel cost per
  // message (on ext4 without a journal, allocation rescans recently deleted inodes).
  // A new record is written into a file of the pool, opened in .free (made there when the pool
  // is empty), and renamed into its queue once its bytes are durable: one rename per store, and
  // recovery never sees a half-written record. give_back() returns an unused one.
  int open_blank(std::string& name);
  void give_back(std::string name);
  static Result<void> fill(int fd, const SpoolRecord& record);
  bool recycle_or_unlink(int dir, const std::string& name);  // false: the file is still there
  bool prefill_free();
  static bool empty_file(int dir,
                         const std::string& name);  // truncated to nothing  // false when the pool
                                                    // is full enough or a file could not be made
  struct Job {
    SpoolRecord record;
    StoredCallback done;
  };
  Spool(std::filesystem::path root, SyncMode mode);
  void writer_loop();
  void commit(std::vector<Job>& batch);

  std::filesystem::path root_;
  SyncMode mode_;
  QueueIdSource ids_;
  std::vector<int> dir_fds_;  // one per Queue, for directory fsyncs and *at() calls
  int free_fd_ = -1;          // <root>/.free

  std::mutex free_mutex_;
  std::deque<std::string>
      free_names_;  // recycled at the back (used first), made ahead at the front
  std::uint64_t free_serial_ = 0;

  std::mutex mutex_;
  std::condition_variable wake_;
  std::vector<Job> pending_;
  bool stopping_ = false;
  std::thread writer_;
};

}  // namespace seegw::spool
