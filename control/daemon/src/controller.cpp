#include "seegw/daemon/controller.hpp"

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <algorithm>
#include <cstring>
#include <ctime>
#include <map>
#include <nlohmann/json.hpp>
#include <tuple>

#include "console_text.hpp"
#include "reply.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/common/unix_socket.hpp"
#include "seegw/console/commands.hpp"
#include "seegw/daemon/peer.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;
using Json = nlohmann::json;

namespace {

constexpr std::size_t kMaxRequest = 1 << 20;  // a certificate file travels inside
constexpr int kMaxClients = 16;

std::uint64_t snapshot_version_on_disk(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return 0;
  auto at = text->find("\nversion = ");
  return at == std::string::npos ? 0 : std::strtoull(text->c_str() + at + 11, nullptr, 10);
}

}  // namespace

Result<std::unique_ptr<Controller>> Controller::start(ControlConfig config) {
  if (auto mismatch = command_table_mismatch(); !mismatch.empty())
    return fail(Errc::config, "the console's command table and its handlers differ: " + mismatch);
  std::unique_ptr<Controller> c(new Controller());
  c->config_ = std::move(config);
  c->store_ = ControlStore{c->config_.state_dir};
  std::error_code ec;
  for (const auto& d : {c->store_.root, c->store_.trusted(), c->store_.imported(),
                        c->store_.pending(), c->config_.crl_cache_dir()})
    fs::create_directories(d, ec);
  ::chmod(c->store_.root.c_str(), 0750);
  auto audit = audit::AuditLog::open(c->config_.audit_file());
  if (!audit) return std::unexpected(audit.error());
  c->audit_ = std::move(*audit);
  if (auto v = audit::verify_audit_log(c->config_.audit_file()); !v.intact)
    log::error("audit: {} is not intact: {} (records are still appended)",
               c->config_.audit_file().string(), v.problem);
  c->version_ = snapshot_version_on_disk(c->config_.snapshot_file());

  // The socket: any local user may connect; what each may do is decided per request.
  fs::create_directories(c->config_.socket.parent_path(), ec);
  auto listener = UnixListener::open(c->config_.socket, 0666, [p = c.get()](int fd) {
    if (p->clients_.load() >= kMaxClients) {
      Reply(fd).error("busy: too many console sessions; try again");
      ::close(fd);
      return;
    }
    ++p->clients_;
    std::thread([p, fd] {
      p->handle(fd);
      ::close(fd);
      --p->clients_;
    }).detach();
  });
  if (!listener) return std::unexpected(listener.error());
  c->listener_ = std::move(*listener);
  c->next_sync_ = now();
  c->scheduler_ = std::thread([p = c.get()] { p->schedule(); });
  log::notice("seegw-control: serving {}; snapshot {} (version {}); directory {}",
              c->config_.socket.string(), c->config_.snapshot_file().string(), c->version_,
              c->config_.directory.uri.empty() ? "(none)" : c->config_.directory.uri);
  return c;
}

Controller::~Controller() {
  stopping_ = true;
  {
    std::lock_guard lock(state_mutex_);
    wake_.notify_all();
  }
  listener_.reset();  // no new clients
  if (scheduler_.joinable()) scheduler_.join();
  // Clients finish their request (a monitor notices `stopping_` within a second).
  for (int i = 0; i < 500 && clients_.load() > 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
}

void Controller::handle(int fd) {
  Reply reply(fd);
  auto peer = peer_credentials(fd);
  if (!peer) return reply.error(peer.error().message);
  // One request line, read with a deadline so a silent client cannot hold a slot.
  std::string request;
  char buf[8192];
  while (request.find('\n') == std::string::npos && request.size() <= kMaxRequest) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 10000) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    request.append(buf, static_cast<std::size_t>(n));
  }
  Json j = Json::parse(request.substr(0, request.find('\n')), nullptr, false);
  std::vector<std::string> argv;
  if (!j.is_discarded() && j.is_object() && j.contains("argv") && j["argv"].is_array())
    for (auto& w : j["argv"])
      if (w.is_string()) argv.push_back(w.get<std::string>());
  if (argv.empty()) {
    log::warning("control: malformed request from {} (pid {}) refused", peer->user, peer->pid);
    return reply.error("malformed request: expected {\"argv\": [\"show\", \"status\"]}");
  }
  auto parsed = console::parse_command(argv);
  if (!parsed) return reply.error(parsed.error().message);
  const auto role = role_of(*peer, config_.roles);
  // What the audit log keeps of the command: a file's contents are summarised, not copied.
  std::string said = parsed->name();
  for (std::size_t i = 0; i < parsed->args.size(); ++i)
    said += parsed->spec->args[i].kind == console::ArgKind::file
                ? fmt::format(" <{} bytes>", parsed->args[i].size())
                : " " + parsed->args[i];
  audit::AuditEntry entry{0,    0,  peer->uid, peer->user, std::string(console::role_name(role)),
                          said, "", ""};
  if (role < parsed->spec->role) {
    entry.outcome = "denied";
    if (auto a = audit_->append(entry); !a) log::error("audit: {}", a.error().message);
    log::warning("control: {} (uid {}, role {}) was refused '{}': it needs the {} role", peer->user,
                 peer->uid, console::role_name(role), parsed->name(),
                 console::role_name(parsed->spec->role));
    return reply.error(fmt::format("permission denied: '{}' needs the {} role; you are {}",
                                   parsed->name(), console::role_name(parsed->spec->role),
                                   role == console::Role::none
                                       ? "in none of the console's groups"
                                       : std::string(console::role_name(role))));
  }
  try {
    run(argv, reply);
  } catch (const std::exception& e) {
    // Nothing here should throw; if something does, this request fails, not the daemon.
    log::error("control: '{}' failed: {}", said, e.what());
    reply.error(std::string("internal error: ") + e.what());
  }
  // Reading is not a change; everything an operator or administrator may do is.
  if (parsed->spec->role >= console::Role::operator_) {
    entry.outcome = reply.ok() ? "ok" : "error: " + reply.text().substr(0, 200);
    if (auto a = audit_->append(entry); !a)
      log::error("audit: the record of '{}' by {} was not written: {}", said, peer->user,
                 a.error().message);
  }
}

Result<std::string> Controller::dataplane(const std::string& line) {
  if (config_.dataplane_socket.empty())
    return fail(Errc::config,
                "[control] dataplane_socket is not set: the data plane cannot be asked");
  auto reply = unix_request(config_.dataplane_socket, line, std::chrono::seconds(60));
  if (!reply)
    return fail(Errc::unavailable, "the data plane does not answer: " + reply.error().message);
  if (reply->starts_with("error: "))
    return fail(Errc::protocol, reply->substr(7, reply->find_last_not_of('\n') - 6));
  if (!reply->starts_with("ok")) return fail(Errc::protocol, "unexpected data plane reply");
  return *reply;
}

std::string Controller::tell_dataplane() {
  if (config_.dataplane_socket.empty()) return "the data plane re-reads the snapshot file itself";
  auto r = dataplane("reload");
  std::string said = r ? "data plane reloaded: " + r->substr(3, r->find('\n') - 3)
                       : "the data plane was not told (" + r.error().message +
                             "); it re-reads the snapshot file within a minute";
  if (!r) log::warning("control: {}", said);
  std::lock_guard lock(state_mutex_);
  last_dataplane_ = said;
  return said;
}

Result<ComposeReport> Controller::recompose(const Progress& progress) {
  std::lock_guard serial(sync_mutex_);
  std::error_code ec;
  if (!fs::exists(store_.agencies(), ec))
    return fail(Errc::unavailable,
                "no directory data yet: the snapshot is written after the first good sync");
  version_ = std::max<std::uint64_t>(version_ + 1, static_cast<std::uint64_t>(now()));
  auto report = compose_snapshot(config_, store_, version_, progress);
  if (!report) return report;
  for (const auto& p : report->crl_problems) log::warning("crl: {}", p);
  log::notice(
      "control: snapshot version {} written: {} agencies, {} vendors, {} certificates, {} trusted",
      report->version, report->agencies, report->vendors, report->certificates, report->trusted);
  return report;
}

Result<std::string> Controller::sync(const Progress& progress) {
  {
    std::lock_guard lock(state_mutex_);
    last_attempt_ = now();
  }
  std::unique_lock serial(sync_mutex_);
  auto fetched = fetch_directory(config_, store_, progress);
  serial.unlock();
  std::string said;
  if (!fetched) {
    std::lock_guard lock(state_mutex_);
    ++failures_;
    last_error_ = fetched.error().message;
    const auto wait = std::min<std::int64_t>(
        config_.retry_min.count() << std::min(failures_ - 1, 16u), config_.retry_max.count());
    next_sync_ = now() + wait;
    log::warning(
        "directory: {}; the last good data stays in use (snapshot version {}); retry in "
        "{} s",
        last_error_, version_, wait);
    said = "directory: " + last_error_ + "; the last good data stays in use";
  } else {
    for (const auto& n : fetched->notes) log::warning("directory: {}", n);
    std::lock_guard lock(state_mutex_);
    failures_ = 0;
    last_error_.clear();
    last_success_ = now();
    next_sync_ = now() + config_.refresh.count();
    said = fmt::format(
        "directory: {} agencies, {} certificates{}", fetched->agencies, fetched->certificates,
        fetched->pending ? fmt::format(", {} awaiting approval", fetched->pending) : "");
  }
  // CRLs and the administrator's changes go in even while the directory is down.
  auto composed = recompose(progress);
  if (!composed) {
    if (!fetched) return std::unexpected(fetched.error());
    return std::unexpected(composed.error());
  }
  said += fmt::format("\nsnapshot version {}: {} agencies, {} vendors, {} certificates, {} trusted",
                      composed->version, composed->agencies, composed->vendors,
                      composed->certificates, composed->trusted);
  for (const auto& p : composed->crl_problems) said += "\n" + p;
  said += "\n" + tell_dataplane();
  if (!fetched) return fail(fetched.error().code, said);
  return said;
}

void Controller::schedule() {
  while (true) {
    {
      std::unique_lock lock(state_mutex_);
      wake_.wait_until(lock,
                       std::chrono::system_clock::from_time_t(static_cast<std::time_t>(next_sync_)),
                       [&] { return stopping_.load() || sync_requested_ || now() >= next_sync_; });
      if (stopping_) return;
      sync_requested_ = false;
      // Until the sync sets the next time, do not spin.
      next_sync_ = now() + config_.retry_min.count();
    }
    (void)sync({});
  }
}

void Controller::run(const std::vector<std::string>& argv, Reply& reply) {
  auto parsed = console::parse_command(argv);
  const Call call{parsed->name(), parsed->args,
                  [&](std::size_t done, std::size_t total, const std::string& what) {
                    reply.progress(done, total, what);
                  }};
  const auto& table = handlers();
  const auto it = table.find(call.name);
  if (it == table.end())
    return reply.error("'" + call.name + "' is not implemented by this seegw-control");
  (this->*(it->second))(call, reply);
}

void Controller::forward(const std::string& line, Reply& reply) {
  auto r = dataplane(line);
  if (!r) return reply.error(r.error().message);
  std::string first = r->substr(0, r->find('\n'));
  std::string rest = r->find('\n') == std::string::npos ? "" : r->substr(r->find('\n') + 1);
  reply.answer(true, (first.size() > 3 ? first.substr(3) + "\n" : "") + rest);
}

void Controller::changed(const std::string& what, Reply& reply, const Progress& progress) {
  auto composed = recompose(progress);
  if (!composed) return reply.answer(true, what + "\n(" + composed.error().message + ")");
  reply.answer(
      true, fmt::format("{}\nsnapshot version {}; {}", what, composed->version, tell_dataplane()));
}

}  // namespace seegw::daemon
