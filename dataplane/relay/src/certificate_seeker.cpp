#include "seegw/relay/certificate_seeker.hpp"

namespace seegw::relay {

CertificateSeeker::CertificateSeeker(std::chrono::seconds interval, Seek seek)
    : interval_(interval), seek_(std::move(seek)), thread_([this] { run(); }) {}

CertificateSeeker::~CertificateSeeker() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
}

void CertificateSeeker::want(const std::string& domain) {
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(mutex_);
    auto [it, first] = last_asked_.try_emplace(domain, now);
    if (!first && now - it->second < interval_) return;
    it->second = now;
    // Forget domains asked long ago, so a stream of distinct domains cannot grow the map.
    if (last_asked_.size() > 10000)
      std::erase_if(last_asked_, [&](const auto& e) { return now - e.second >= interval_; });
    waiting_.push_back(domain);
  }
  wake_.notify_one();
}

void CertificateSeeker::found(const std::string& domain) {
  std::lock_guard lock(mutex_);
  last_asked_.erase(domain);
}

void CertificateSeeker::run() {
  std::unique_lock lock(mutex_);
  while (true) {
    wake_.wait(lock, [&] { return stopping_ || !waiting_.empty(); });
    if (stopping_) return;
    const std::string domain = std::move(waiting_.front());
    waiting_.pop_front();
    lock.unlock();
    seek_(domain);
    lock.lock();
  }
}

}  // namespace seegw::relay
