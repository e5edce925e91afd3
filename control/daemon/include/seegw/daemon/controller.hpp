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
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "seegw/audit/audit_log.hpp"
#include "seegw/common/admin_protocol.hpp"
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

  // A console command as its handler gets it.
  struct Call {
    std::string name;  // "show queue"
    const std::vector<std::string>& args;
    Progress progress;
  };
  using Handler = void (Controller::*)(const Call& call, Reply& reply);
  // Every console command's handler (console::commands() names them all).
  static const std::map<std::string, Handler>& handlers();
  // What the handler table and console::commands() disagree on ("" when nothing): checked at
  // start, so a command without a handler (or the reverse) stops the daemon with the names.
  static std::string command_table_mismatch();

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
  // A data plane command whose "ok" answer is the console's answer.
  void forward(const std::string& line, Reply& reply);
  // A change made: compose a new snapshot and tell the data plane; the answer says both.
  void changed(const std::string& what, Reply& reply, const Progress& progress);

  // One handler per console command, by kind: show_commands.cpp, change_commands.cpp,
  // key_commands.cpp, queue_commands.cpp. A handler serving several commands reads call.name.
  void cmd_show_status(const Call& call, Reply& reply);
  void cmd_show_stats(const Call& call, Reply& reply);
  void cmd_show_queue(const Call& call, Reply& reply);
  void cmd_show_certificates(const Call& call, Reply& reply);
  void cmd_show_agencies(const Call& call, Reply& reply);
  void cmd_show_trusted(const Call& call, Reply& reply);
  void cmd_show_crl(const Call& call, Reply& reply);
  void cmd_show_log(const Call& call, Reply& reply);
  void cmd_monitor_log(const Call& call, Reply& reply);
  void cmd_queue_explain(const Call& call, Reply& reply);
  void cmd_queue_change(const Call& call, Reply& reply);
  void cmd_trusted_add(const Call& call, Reply& reply);
  void cmd_trusted_remove(const Call& call, Reply& reply);
  void cmd_certificate_discover(const Call& call, Reply& reply);
  void cmd_certificate_approve(const Call& call, Reply& reply);
  void cmd_certificate_import(const Call& call, Reply& reply);
  void cmd_certificate_publish(const Call& call, Reply& reply);
  void cmd_certificate_export(const Call& call, Reply& reply);
  void cmd_key_list(const Call& call, Reply& reply);
  void cmd_key_generate(const Call& call, Reply& reply);
  void cmd_key_csr(const Call& call, Reply& reply);
  void cmd_key_install(const Call& call, Reply& reply);
  void cmd_key_rollover(const Call& call, Reply& reply);
  void cmd_key_switch(const Call& call, Reply& reply);
  void cmd_key_retire(const Call& call, Reply& reply);
  void cmd_dkim(const Call& call, Reply& reply);
  void cmd_show_sge(const Call& call, Reply& reply);
  void cmd_tls_report(const Call& call, Reply& reply);
  void cmd_ping(const Call& call, Reply& reply);
  void cmd_config_show(const Call& call, Reply& reply);
  void cmd_config_check(const Call& call, Reply& reply);
  void cmd_config_reload(const Call& call, Reply& reply);
  void cmd_directory_sync(const Call& call, Reply& reply);
  void cmd_audit_show(const Call& call, Reply& reply);
  void cmd_audit_verify(const Call& call, Reply& reply);
  void cmd_show_system(const Call& call, Reply& reply);
  void cmd_system_update(const Call& call, Reply& reply);
  void cmd_system_reboot(const Call& call, Reply& reply);
  void monitor_log(Reply& reply);
  // The data plane's events after `after` (seegw/common/admin_protocol.hpp).
  Result<std::vector<admin::LogRow>> their_log(std::uint64_t after);
  // `certificate discover`, asked by an operator or by the data plane for held mail (§2.8): the
  // directory first; when it holds no certificate for a listed domain or cannot be reached, the
  // data plane sends the signed e-mail request (DIR-2 fallback).
  void discover_certificate(const std::string& domain, Reply& reply, const Progress& progress);
  std::string request_by_mail(const std::string& domain, const std::string& why);
  // §2.15: the data plane's current certificate into [directory] publish_dn.
  Result<std::string> publish_own_certificate();

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
