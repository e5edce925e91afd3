// §2.8 "Auto-discover valid public key certificate": the domains whose certificate held mail
// waits for are looked up at once, not at the next directory sync — on a thread of their own (a
// directory lookup may take seconds, and neither the pipeline nor the health watcher waits for
// it), each domain at most once per interval so a burst of held mail asks once.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>

namespace seegw::relay {

class CertificateSeeker {
 public:
  using Seek = std::function<void(const std::string& domain)>;
  CertificateSeeker(std::chrono::seconds interval, Seek seek);
  ~CertificateSeeker();  // the lookup under way finishes; the ones waiting are dropped
  CertificateSeeker(const CertificateSeeker&) = delete;
  CertificateSeeker& operator=(const CertificateSeeker&) = delete;

  // Thread-safe and never blocks; a domain asked for within the interval is not asked again.
  void want(const std::string& domain);
  // The domain has a usable certificate now: when it loses it, it is asked for again at once.
  void found(const std::string& domain);

 private:
  void run();

  std::chrono::seconds interval_;
  Seek seek_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::string> waiting_;
  std::map<std::string, std::chrono::steady_clock::time_point> last_asked_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace seegw::relay
