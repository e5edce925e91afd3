// Threads for work that waits on the network — DNS answers, an MTA-STS policy over HTTPS — so
// that it never sits on an I/O loop, nor on the TBB pool's few threads, whose CPU work (scanning,
// CMS, DKIM) a slow or silent server would otherwise stall. A plain queue; on destruction what
// runs finishes and what waits is dropped (its message is still on disk: recovery tries again).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace seegw::relay {

class WaitingThreads {
 public:
  explicit WaitingThreads(std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) threads_.emplace_back([this] { work(); });
  }
  ~WaitingThreads() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
      queue_.clear();
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  WaitingThreads(const WaitingThreads&) = delete;
  WaitingThreads& operator=(const WaitingThreads&) = delete;

  void run(std::function<void()> task) {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) return;
      queue_.push_back(std::move(task));
    }
    wake_.notify_one();
  }

 private:
  void work() {
    while (true) {
      std::function<void()> task;
      {
        std::unique_lock lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (stopping_) return;
        task = std::move(queue_.front());
        queue_.pop_front();
      }
      task();
    }
  }

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::function<void()>> queue_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // last: started once the rest is made
};

}  // namespace seegw::relay
