// The seegw-control daemon: keeps the policy snapshot current (directory sync and CRLs on a
// schedule, with backoff while the directory is down — the last good snapshot stays), tells the
// data plane when it changes, and serves the console's API on a Unix socket: one JSON request
// line, JSON reply lines (progress, events, then the answer). Each caller's role comes from the
// kernel (SO_PEERCRED); every change and every refusal is written to the audit log first.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "seegw/audit/audit_log.hpp"
#include "seegw/common/unix_socket.hpp"
#include "seegw/daemon/control_config.hpp"
#include "seegw/daemon/snapshot.hpp"

namespace seegw::daemon {

class Reply;

class Controller {
 public:
  static Result<std::unique_ptr<Controller>> start(ControlConfig config);
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

 private:
  Controller() = default;
  void handle(int fd);
  void schedule();
  // One sync: ask the directory (may fail), compose from what is stored, tell the data plane.
  Result<std::string> sync(const Progress& progress);
  Result<ComposeReport> recompose(const Progress& progress);
  std::string tell_dataplane();
  Result<std::string> dataplane(const std::string& line);
  void run(const std::vector<std::string>& argv, Reply& reply);
  void monitor_log(Reply& reply);
  // `certificate discover`, asked by an operator or by the data plane for held mail (§2.8): the
  // directory first; when it holds no certificate for a listed domain or cannot be reached, the
  // data plane sends the signed e-mail request (DIR-2 fallback).
  void discover_certificate(const std::string& domain, Reply& reply, const Progress& progress);
  std::string request_by_mail(const std::string& domain, const std::string& why);
  // §2.15: the data plane's current certificate into [directory] publish_dn.
  Result<std::string> publish_own_certificate();
  // §2.3 change-over in two steps (a CA issues the certificate in between): rollover makes the
  // key pair and its CSR; switch installs the certificate, signs with the new key and publishes.
  void rollover_key(const std::vector<std::string>& args, Reply& reply);
  void switch_key(const std::vector<std::string>& args, Reply& reply);

  ControlConfig config_;
  ControlStore store_;
  std::unique_ptr<audit::AuditLog> audit_;
  std::unique_ptr<UnixListener> listener_;
  std::thread scheduler_;
  std::atomic<int> clients_{0};
  std::atomic<bool> stopping_{false};

  std::mutex sync_mutex_;  // one sync or recompose at a time
  std::uint64_t version_ = 0;

  std::mutex state_mutex_;  // guards what follows
  std::condition_variable wake_;
  bool sync_requested_ = false;
  std::int64_t last_attempt_ = 0, last_success_ = 0, next_sync_ = 0;
  unsigned failures_ = 0;
  std::string last_error_, last_dataplane_;
};

}  // namespace seegw::daemon
