#include "seegw/spool/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <unordered_set>
#include <utility>

#include "seegw/common/log.hpp"

namespace seegw::spool {
namespace {

constexpr std::array kQueues = {Queue::incoming, Queue::active,  Queue::deferred,
                                Queue::hold,     Queue::corrupt, Queue::done};
constexpr std::size_t kMaxBatch = 256;
constexpr std::size_t kMaxFree = 4096;  // recycled files kept for reuse
constexpr std::size_t kPrefillFree =
    256;  // made ahead while idle: a burst of that many creates none
constexpr std::size_t kPrefillStep = 32;

// RAII for a file descriptor.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  int get() const { return fd_; }
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_;
};

Result<void> write_all(int fd, const std::string& header, const std::string* content) {
  std::array<iovec, 2> iov{};
  iov[0] = {const_cast<char*>(header.data()), header.size()};
  iov[1] = {content ? const_cast<char*>(content->data()) : nullptr, content ? content->size() : 0};
  std::size_t total = header.size() + (content ? content->size() : 0);
  std::size_t done = 0;
  while (done < total) {
    // Re-aim the iovecs past what is already written.
    std::array<iovec, 2> v = iov;
    std::size_t skip = done;
    int first = 0;
    if (skip >= v[0].iov_len) {
      skip -= v[0].iov_len;
      first = 1;
    }
    v[first].iov_base = static_cast<char*>(v[first].iov_base) + skip;
    v[first].iov_len -= skip;
    ssize_t n = ::writev(fd, v.data() + first, 2 - first);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail_errno("write spool file");
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

}  // namespace

std::string_view queue_name(Queue queue) {
  switch (queue) {
    case Queue::incoming:
      return "incoming";
    case Queue::active:
      return "active";
    case Queue::deferred:
      return "deferred";
    case Queue::hold:
      return "hold";
    case Queue::corrupt:
      return "corrupt";
    case Queue::done:
      return "done";
  }
  return "?";
}

Spool::Spool(std::filesystem::path root, SyncMode mode) : root_(std::move(root)), mode_(mode) {}

Result<std::unique_ptr<Spool>> Spool::open(const std::filesystem::path& root, SyncMode mode) {
  std::unique_ptr<Spool> spool(new Spool(root, mode));
  std::error_code ec;
  std::filesystem::create_directories(root, ec);
  if (ec) return fail(Errc::io, fmt::format("create spool {}: {}", root.string(), ec.message()));
  for (Queue q : kQueues) {
    auto dir = root / queue_name(q);
    std::filesystem::create_directory(dir, ec);
    if (ec) return fail(Errc::io, fmt::format("create {}: {}", dir.string(), ec.message()));
    int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail_errno("open " + dir.string());
    spool->dir_fds_.push_back(fd);
  }
  auto free_dir = root / ".free";
  std::filesystem::create_directory(free_dir, ec);
  if (ec) return fail(Errc::io, fmt::format("create {}: {}", free_dir.string(), ec.message()));
  spool->free_fd_ = ::open(free_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (spool->free_fd_ < 0) return fail_errno("open " + free_dir.string());
  // A crash between a rename into a queue and the next sync of .free can leave a record's file
  // listed in both (without a journal the link count does not even tell). Reusing it would
  // overwrite an accepted message, so a pool entry whose inode a queue holds is dropped.
  std::unordered_set<ino_t> queued;
  for (Queue q : kQueues)
    if (DIR* d = ::opendir((root / queue_name(q)).c_str())) {
      while (dirent* ent = ::readdir(d)) queued.insert(ent->d_ino);
      ::closedir(d);
    }
  if (DIR* d = ::opendir(free_dir.c_str())) {
    while (dirent* ent = ::readdir(d)) {
      std::string_view name = ent->d_name;
      if (!name.starts_with("f")) continue;
      if (queued.contains(ent->d_ino)) {
        ::unlinkat(spool->free_fd_, ent->d_name, 0);
        continue;
      }
      // A pool file with content (a crash mid-write, or a spool from before files were emptied
      // when finished) is emptied now or not kept.
      struct stat st {};
      if (::fstatat(spool->free_fd_, ent->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
          !S_ISREG(st.st_mode) || (st.st_size > 0 && !empty_file(spool->free_fd_, ent->d_name))) {
        ::unlinkat(spool->free_fd_, ent->d_name, 0);
        continue;
      }
      spool->free_names_.emplace_back(name);
    }
    ::closedir(d);
  }
  spool->free_serial_ = spool->free_names_.size();
  for (const auto& n : spool->free_names_)
    spool->free_serial_ =
        std::max<std::uint64_t>(spool->free_serial_, std::strtoull(n.c_str() + 1, nullptr, 10) + 1);
  // Probe that the spool is writable now rather than at the first message (OPS-1 fails closed).
  if (::faccessat(spool->dir_fds_[0], ".", W_OK, 0) != 0)
    return fail_errno("spool incoming/ is not writable");
  // The sequence continues past the newest ID in use. What is in corrupt/ is not in use, and an
  // ID from the far future (a stray file, a clock that was wrong) would push new IDs out of their
  // format: neither seeds it.
  for (Queue q : kQueues) {
    if (q == Queue::corrupt) continue;
    auto ids = spool->list(q);
    if (!ids) return std::unexpected(ids.error());
    for (auto id = ids->rbegin(); id != ids->rend(); ++id) {
      if (spool->ids_.advance_past(*id)) break;
      log::warning("spool: {}/{} names a time in the future; new queue IDs do not follow it",
                   queue_name(q), *id);
    }
  }
  spool->writer_ = std::thread([s = spool.get()] { s->writer_loop(); });
  return spool;
}

Spool::~Spool() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (writer_.joinable()) writer_.join();
  for (int fd : dir_fds_) ::close(fd);
  if (free_fd_ >= 0) ::close(free_fd_);
}

// 004 §2.4: a finished or failed record's text must not stay readable in the pool (data
// remanence on a classified-mail gateway); emptying the file also gives its blocks back.
bool Spool::empty_file(int dir, const std::string& name) {
  const int fd = ::openat(dir, name.c_str(), O_WRONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return false;
  const bool emptied = ::ftruncate(fd, 0) == 0;
  ::close(fd);
  return emptied;
}

int Spool::open_blank(std::string& name) {
  {
    std::lock_guard lock(free_mutex_);
    if (!free_names_.empty()) {
      name = std::move(free_names_.back());
      free_names_.pop_back();
    } else {
      name = "f" + std::to_string(free_serial_++);
    }
  }
  int fd = ::openat(free_fd_, name.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) give_back(std::move(name));
  return fd;  // the caller truncates to what it wrote
}

void Spool::give_back(std::string name) {
  if (!empty_file(free_fd_, name)) {
    ::unlinkat(free_fd_, name.c_str(), 0);
    return;
  }
  std::lock_guard lock(free_mutex_);
  free_names_.push_back(std::move(name));
}

bool Spool::prefill_free() {
  for (std::size_t i = 0; i < kPrefillStep; ++i) {
    std::string name;
    {
      std::lock_guard lock(free_mutex_);
      if (free_names_.size() >= kPrefillFree) return false;
      name = "f" + std::to_string(free_serial_++);
    }
    int fd = ::openat(free_fd_, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) return false;  // a full or read-only disk: the health check will say so
    ::close(fd);
    std::lock_guard lock(free_mutex_);
    free_names_.push_front(std::move(name));
  }
  return true;
}

bool Spool::recycle_or_unlink(int dir, const std::string& name) {
  std::string target;
  {
    std::lock_guard lock(free_mutex_);
    if (free_names_.size() < kMaxFree) target = "f" + std::to_string(free_serial_++);
  }
  // Renamed first, then emptied: a crash in between leaves a pool file with content (emptied at
  // the next start), never an empty record in a queue (which would be quarantined as corrupt).
  if (!target.empty() && ::renameat(dir, name.c_str(), free_fd_, target.c_str()) == 0) {
    if (!empty_file(free_fd_, target)) {
      ::unlinkat(free_fd_, target.c_str(), 0);
      return true;
    }
    std::lock_guard lock(free_mutex_);
    free_names_.push_back(std::move(target));
    return true;
  }
  return ::unlinkat(dir, name.c_str(), 0) == 0;
}

std::filesystem::path Spool::path_of(Queue queue, const QueueId& id) const {
  return root_ / queue_name(queue) / id;
}

void Spool::store_incoming(SpoolRecord record, StoredCallback done) {
  {
    std::lock_guard lock(mutex_);
    pending_.push_back(Job{std::move(record), std::move(done)});
  }
  wake_.notify_one();
}

void Spool::writer_loop() {
  std::vector<Job> batch;
  while (true) {
    {
      std::unique_lock lock(mutex_);
      // While idle, make a few empty files ahead for the pool (not on any message's path).
      while (pending_.empty() && !stopping_) {
        lock.unlock();
        const bool more = prefill_free();
        lock.lock();
        if (!more) break;
      }
      wake_.wait(lock, [&] { return stopping_ || !pending_.empty(); });
      if (pending_.empty() && stopping_) return;
      const std::size_t n = std::min(pending_.size(), kMaxBatch);
      std::move(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n),
                std::back_inserter(batch));
      pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(n));
    }
    commit(batch);
    batch.clear();
  }
}

// One batch = every store that arrived while the previous batch was syncing (group commit).
void Spool::commit(std::vector<Job>& batch) {
  const int dir = dir_fds_[static_cast<int>(Queue::incoming)];
  std::vector<Result<void>> results(batch.size());
  std::vector<Fd> files(batch.size());
  std::vector<std::string> blanks(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& r = batch[i].record;
    if (!is_queue_id(r.id)) {  // it could never be read back: never acknowledged
      results[i] = fail(Errc::corrupt, fmt::format("'{}' is not a queue ID: not stored", r.id));
      continue;
    }
    Fd fd(open_blank(blanks[i]));
    if (!fd) {
      results[i] = fail_errno("create spool file");
      continue;
    }
    results[i] = fill(fd.get(), r);
    if (results[i] && mode_ == SyncMode::per_file && ::fdatasync(fd.get()) != 0)
      results[i] = fail_errno("fdatasync spool file");
    files[i] = std::move(fd);
  }
  if (mode_ == SyncMode::group && ::syncfs(dir) != 0) {
    auto err = fail_errno("syncfs spool");
    for (auto& r : results)
      if (r) r = err;
  }
  // Only now, with its bytes on disk, does a file get the record's name.
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& id = batch[i].record.id;
    if (results[i] && ::renameat(free_fd_, blanks[i].c_str(), dir, id.c_str()) != 0)
      results[i] = fail_errno("rename spool file");
    if (!results[i] && !blanks[i].empty()) give_back(std::move(blanks[i]));
  }
  files.clear();
  if (::fsync(dir) != 0) {
    auto err = fail_errno("fsync spool directory");
    for (auto& r : results)
      if (r) r = err;
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (!results[i])
      log::error("spool: {} not stored: {}", batch[i].record.id, results[i].error().message);
    batch[i].done(std::move(results[i]));
  }
}

Result<void> Spool::fill(int fd, const SpoolRecord& record) {
  const std::string header = encode_header(record);
  auto written = write_all(fd, header, record.content.get());
  if (written &&
      ::ftruncate(fd, static_cast<off_t>(header.size() +
                                         (record.content ? record.content->size() : 0))) != 0)
    written = fail_errno("truncate spool file");
  return written;
}

Result<void> Spool::write(Queue queue, const SpoolRecord& record) {
  if (!is_queue_id(record.id))
    return fail(Errc::corrupt, fmt::format("'{}' is not a queue ID: not stored", record.id));
  const int dir = dir_fds_[static_cast<int>(queue)];
  std::string blank;
  Fd fd(open_blank(blank));
  if (!fd) return fail_errno("create spool file");
  auto written = fill(fd.get(), record);
  if (written && ::fdatasync(fd.get()) != 0) written = fail_errno("fdatasync spool file");
  if (written && ::renameat(free_fd_, blank.c_str(), dir, record.id.c_str()) != 0)
    written = fail_errno("rename spool file");
  if (!written) {
    give_back(std::move(blank));
    return written;
  }
  if (::fsync(dir) != 0) return fail_errno("fsync spool directory");
  return {};
}

Result<void> Spool::move(const QueueId& id, Queue from, Queue to) {
  if (::renameat(dir_fds_[static_cast<int>(from)], id.c_str(), dir_fds_[static_cast<int>(to)],
                 id.c_str()) != 0)
    return fail_errno(fmt::format("move {} {} -> {}", id, queue_name(from), queue_name(to)));
  return {};
}

Result<void> Spool::remove(Queue queue, const QueueId& id) {
  const int dir = dir_fds_[static_cast<int>(queue)];
  struct stat st {};
  if (::fstatat(dir, id.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0)
    return fail_errno(fmt::format("remove {}/{}", queue_name(queue), id));
  if (!recycle_or_unlink(dir, id))
    return fail_errno(fmt::format("remove {}/{}", queue_name(queue), id));
  return {};
}

Result<SpoolRecord> Spool::load(Queue queue, const QueueId& id) const {
  Fd fd(::openat(dir_fds_[static_cast<int>(queue)], id.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return fail_errno(fmt::format("open {}/{}", queue_name(queue), id));
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return fail_errno("stat spool file");
  std::string bytes(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t got = 0;
  while (got < bytes.size()) {
    ssize_t n = ::read(fd.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail_errno("read spool file");
    if (n == 0) return fail(Errc::corrupt, "spool file shrank while reading");
    got += static_cast<std::size_t>(n);
  }
  auto record = decode(bytes);
  if (record && record->id != id)
    return fail(Errc::corrupt, fmt::format("file {} holds queue id {}", id, record->id));
  return record;
}

void Spool::quarantine(Queue from, const QueueId& id, std::string_view reason) {
  log::error("spool: {}/{} is corrupt ({}); moved to corrupt/", queue_name(from), id, reason);
  if (auto moved = move(id, from, Queue::corrupt); !moved)
    log::error("spool: could not quarantine {}: {}", id, moved.error().message);
}

Result<std::vector<QueueId>> Spool::list(Queue queue) const {
  std::vector<QueueId> ids;
  DIR* d = ::opendir((root_ / queue_name(queue)).c_str());
  if (!d) return fail_errno("list spool queue");
  while (dirent* ent = ::readdir(d)) {
    std::string_view name = ent->d_name;
    if (is_queue_id(name)) {
      ids.emplace_back(name);
    } else if (name != "." && name != ".." && !name.starts_with(".")) {
      log::warning("spool: ignoring stray file {}/{}", queue_name(queue), name);
    }
  }
  ::closedir(d);
  std::sort(ids.begin(), ids.end());
  return ids;
}

bool Spool::room_for(std::uint64_t bytes) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now().time_since_epoch())
                               .count();
  std::int64_t checked = space_checked_ns_.load(std::memory_order_relaxed);
  if (now - checked >= 250'000'000 &&
      space_checked_ns_.compare_exchange_strong(checked, now, std::memory_order_relaxed)) {
    struct statvfs fs {};
    if (::fstatvfs(dir_fds_[0], &fs) == 0) {
      free_bytes_ = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
      // File systems without inode accounting (f_files 0) have no inode limit to keep.
      free_inodes_ = fs.f_files == 0 ? ~0ull : static_cast<std::uint64_t>(fs.f_favail);
    }
  }
  const std::uint64_t free_bytes = free_bytes_.load(), free_inodes = free_inodes_.load();
  const bool short_now = free_bytes < reserve_.bytes || free_inodes < reserve_.inodes;
  if (short_now != short_of_space_.exchange(short_now)) {
    if (short_now)
      log::error(
          "spool: {} MiB and {} inodes free, under the reserve ({} MiB, {} inodes): new mail is "
          "answered 452 until space returns; queued mail is still delivered",
          free_bytes >> 20, free_inodes, reserve_.bytes >> 20, reserve_.inodes);
    else
      log::notice("spool: free space is back above the reserve: accepting mail again");
  }
  return !short_now && free_bytes - reserve_.bytes >= bytes;
}

std::size_t Spool::remove_temporaries() {
  std::size_t removed = 0;
  for (Queue q : kQueues) {
    DIR* d = ::opendir((root_ / queue_name(q)).c_str());
    if (!d) continue;
    std::vector<std::string> temps;
    while (dirent* ent = ::readdir(d)) {
      std::string_view name = ent->d_name;
      if (name.starts_with(".") && name.ends_with(".tmp")) temps.emplace_back(name);
    }
    ::closedir(d);
    for (auto& t : temps)
      if (::unlinkat(dir_fds_[static_cast<int>(q)], t.c_str(), 0) == 0) ++removed;
  }
  return removed;
}

}  // namespace seegw::spool
