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

std::int64_t now() { return std::time(nullptr); }

std::string when(std::int64_t t) {
  if (t == 0) return "never";
  std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string span_of(std::int64_t s) {
  s = std::max<std::int64_t>(0, s);
  if (s < 120) return fmt::format("{}s", s);
  if (s < 7200) return fmt::format("{}m", s / 60);
  if (s < 172800) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string age(std::int64_t since) { return span_of(now() - since); }

// A table that reads well at 80 columns: fixed widths, the last column takes what is left,
// cells too long for their column end in '~'.
std::string render_table(const std::vector<std::string>& heads,
                         const std::vector<std::vector<std::string>>& rows,
                         const std::vector<std::size_t>& widths) {
  std::size_t used = 0;
  for (auto w : widths) used += w + 1;
  const std::size_t last = used < 79 ? 79 - used : 10;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::size_t w = i < widths.size() ? widths[i] : last;
      std::string c = cells[i];
      if (c.size() > w) c = c.substr(0, w - 1) + "~";
      if (i + 1 < cells.size()) c.resize(w, ' ');
      out += c + (i + 1 < cells.size() ? " " : "");
    }
    return out + "\n";
  };
  std::string out = line(heads);
  for (const auto& r : rows) out += line(r);
  if (rows.empty()) out += "(none)\n";
  return out;
}

// Words wrapped to 80 columns; lines after the first start with `indent` spaces.
std::string wrap(const std::string& text, std::size_t indent) {
  std::string out;
  std::size_t start = std::min(text.find_first_not_of(' '), text.size());
  std::string line(start, ' ');  // the text's own indentation stays
  while (start < text.size()) {
    auto end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.size() + 1 + word.size() > 79) {
      out += line + "\n";
      line = std::string(indent, ' ');
    } else if (!line.empty() && line.find_first_not_of(' ') != std::string::npos) {
      line += " ";
    }
    line += word;
  }
  return out + line + "\n";
}

std::vector<std::string> split(const std::string& line, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t at; (at = line.find(sep, start)) != std::string::npos; start = at + 1)
    out.push_back(line.substr(start, at - start));
  out.push_back(line.substr(start));
  return out;
}

// The rows of a data plane reply after its "ok" line.
std::vector<std::vector<std::string>> rows_of(const std::string& reply) {
  std::vector<std::vector<std::string>> out;
  auto lines = split(reply, '\n');
  for (std::size_t i = 1; i < lines.size(); ++i)
    if (!lines[i].empty()) out.push_back(split(lines[i], '\t'));
  return out;
}

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(in.data()),
                                static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

std::string asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min);
}

std::uint64_t snapshot_version_on_disk(const fs::path& file) {
  auto text = read_file(file);
  if (!text) return 0;
  auto at = text->find("\nversion = ");
  return at == std::string::npos ? 0 : std::strtoull(text->c_str() + at + 11, nullptr, 10);
}

}  // namespace

// One client's answer: JSON lines, the last of which has "ok".
class Reply {
 public:
  explicit Reply(int fd) : fd_(fd) {}
  bool send(const Json& j) {
    const std::string line = j.dump() + "\n";
    std::size_t off = 0;
    while (off < line.size()) {
      ssize_t n = ::send(fd_, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }
  bool progress(std::size_t done, std::size_t total, const std::string& what) {
    return send(Json{{"progress", {{"done", done}, {"total", total}, {"what", what}}}});
  }
  void answer(bool ok, std::string text, Json data = nullptr) {
    ok_ = ok;
    text_ = text;
    Json j{{"ok", ok}, {"text", std::move(text)}};
    if (!data.is_null()) j["data"] = std::move(data);
    send(j);
  }
  void error(std::string text) { answer(false, std::move(text)); }
  // The client hung up (monitor log ends when it does).
  bool gone() {
    pollfd p{fd_, POLLIN | POLLRDHUP, 0};
    if (::poll(&p, 1, 0) <= 0) return false;
    if (p.revents & (POLLHUP | POLLRDHUP | POLLERR)) return true;
    char c;
    return ::recv(fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
  }
  bool ok() const { return ok_; }
  const std::string& text() const { return text_; }

 private:
  int fd_;
  bool ok_ = false;
  std::string text_ = "no answer";
};

Result<std::unique_ptr<Controller>> Controller::start(ControlConfig config) {
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

void Controller::discover_certificate(const std::string& domain, Reply& reply,
                                      const Progress& progress) {
  const auto agencies = stored_agencies(store_);
  const bool listed = std::any_of(agencies.begin(), agencies.end(),
                                  [&](const StoredAgency& a) { return a.domain == domain; });
  progress(0, 2, "connecting to " + config_.directory.uri);
  auto dir = directory::Directory::connect(config_.directory);
  auto found = dir ? discover(**dir, config_, domain)
                   : Result<std::vector<Verdict>>(std::unexpected(dir.error()));
  progress(2, 2, "done");
  if (!found && !listed) return reply.error(found.error().message);
  if (!found || found->empty()) {
    const std::string why = found ? "the directory holds no certificate for " + domain
                                  : "the directory cannot be asked: " + found.error().message;
    return reply.answer(true, listed ? request_by_mail(domain, why) : why);
  }
  Json data = Json::array();
  std::string text;
  for (const auto& v : *found) {
    data.push_back({{"subject", x509::subject_text(v.certificate.get())},
                    {"state", x509::state_name(v.validation.state)},
                    {"detail", v.validation.detail},
                    {"warnings", v.validation.warnings}});
    text += fmt::format("{}: {}{}{}\n", x509::subject_text(v.certificate.get()),
                        x509::state_name(v.validation.state),
                        v.validation.detail.empty() ? "" : " - ", v.validation.detail);
    for (const auto& w : v.validation.warnings) text += "  warning: " + w + "\n";
  }
  const auto& best = found->front();
  if (!listed)
    return reply.answer(
        true, text + "nothing changed: " + domain + " is not on the SEEMAIL or VENDOR list\n",
        data);
  if (best.validation.state != x509::CertificateState::valid)
    return reply.answer(
        true, text + request_by_mail(domain, "no valid certificate in the directory") + "\n", data);
  const std::string pem = x509::to_pem(best.certificate.get());
  if (auto in_use = x509::load_certificate_file((store_.discovered() / (domain + ".pem")).string());
      in_use && X509_cmp(in_use->get(), best.certificate.get()) == 0)
    return reply.answer(true, text + "already in use: nothing changed", data);
  if (!config_.auto_approve) {
    if (auto w = write_file_atomically(store_.pending() / (domain + ".pem"), pem); !w)
      return reply.error(w.error().message);
    return reply.answer(true, text + "waiting for approval: certificate approve " + domain, data);
  }
  if (auto w = write_file_atomically(store_.discovered() / (domain + ".pem"), pem); !w)
    return reply.error(w.error().message);
  auto composed = recompose(progress);
  text += composed ? fmt::format("in use from snapshot version {}; {}", composed->version,
                                 tell_dataplane())
                   : composed.error().message;
  return reply.answer(true, text, data);
}

std::string Controller::request_by_mail(const std::string& domain, const std::string& why) {
  auto r = dataplane("request-certificate " + domain);
  if (!r) {
    log::warning("control: {}; the signed e-mail request was not sent: {}", why, r.error().message);
    return why + "; the signed e-mail request was not sent: " + r.error().message;
  }
  log::notice("control: {}; {}", why, r->substr(3, r->find('\n') - 3));
  return why + "; " + r->substr(3, r->find('\n') - 3);
}

Result<std::string> Controller::publish_own_certificate() {
  // §2.15: our current certificate, as the data plane (which holds the HSM) has it, into the
  // directory entry the configuration names, with the configured bind credentials.
  if (config_.directory.publish_dn.empty())
    return fail(Errc::config, "no [directory] publish_dn is configured");
  auto dp = dataplane("own-certificate");
  if (!dp) return std::unexpected(dp.error());
  auto certs = x509::load_certificates(dp->substr(dp->find('\n') + 1));
  if (!certs || certs->empty()) return fail(Errc::protocol, "the data plane gave no certificate");
  unsigned char* der = nullptr;
  const int n = i2d_X509(certs->front().get(), &der);
  if (n <= 0) return fail(Errc::corrupt, "our certificate cannot be encoded");
  const std::string bytes(reinterpret_cast<char*>(der), static_cast<std::size_t>(n));
  OPENSSL_free(der);
  auto dir = directory::Directory::connect(config_.directory);
  if (!dir) return std::unexpected(dir.error());
  if (auto p = (*dir)->publish_certificate(config_.directory.publish_dn, bytes); !p)
    return std::unexpected(p.error());
  log::notice("control: certificate {} published to {}", x509::subject_text(certs->front().get()),
              config_.directory.publish_dn);
  return fmt::format("{} published to {}", x509::subject_text(certs->front().get()),
                     config_.directory.publish_dn);
}

void Controller::rollover_key(const std::vector<std::string>& args, Reply& reply) {
  const std::string& label = args[0];
  auto made = dataplane("key generate " + label + " " + (args.size() > 2 ? args[2] : "rsa:2048"));
  if (!made) return reply.error(made.error().message);
  auto csr = dataplane("key csr " + label + " " + args[1]);
  if (!csr) return reply.error("the key pair is made, its CSR is not: " + csr.error().message);
  reply.answer(true, fmt::format("Step 1 of 2: key pair {} generated inside the token; the key in "
                                 "use still signs.\n"
                                 "Send this request to the agency's CA:\n\n{}\n"
                                 "Step 2, with the issued certificate: key switch {} FILE\n",
                                 label, csr->substr(csr->find('\n') + 1), label));
}

void Controller::switch_key(const std::vector<std::string>& args, Reply& reply) {
  const std::string& label = args[0];
  auto installed = dataplane("key install " + label + " " + base64(args[1]));
  if (!installed) return reply.error(installed.error().message);
  auto switched = dataplane("key switch " + label);
  if (!switched)
    return reply.error("the certificate is installed; the key in use is unchanged: " +
                       switched.error().message);
  std::string text = switched->substr(3, switched->find('\n') - 3) + "\n";
  // §2.15: the directory keeps our current certificate, so peers find the new one at once.
  if (config_.directory.publish_dn.empty()) {
    text += "not published: no [directory] publish_dn is configured\n";
  } else if (auto published = publish_own_certificate(); published) {
    text += *published + "\n";
  } else {
    log::warning("control: the new certificate was not published: {}", published.error().message);
    text += "NOT published (" + published.error().message + "): certificate publish\n";
  }
  reply.answer(true, text);
}

void Controller::monitor_log(Reply& reply) {
  std::uint64_t own = 0, theirs = 0;
  for (const auto& e : log::events_after(0)) own = e.seq;
  if (auto r = dataplane("log 0"))
    for (const auto& row : rows_of(*r))
      theirs = std::max<std::uint64_t>(theirs, std::stoull(row[0]));
  reply.send(Json{{"event",
                   {{"time", now()},
                    {"level", "notice"},
                    {"program", "seegw-control"},
                    {"text", "monitoring; interrupt to stop"}}}});
  while (!stopping_ && !reply.gone()) {
    for (const auto& e : log::events_after(own)) {
      own = e.seq;
      if (!reply.send(Json{{"event",
                            {{"time", e.time_ms / 1000},
                             {"level", log::level_name(e.level)},
                             {"program", e.program},
                             {"text", e.text}}}}))
        return;
    }
    if (auto r = dataplane("log " + std::to_string(theirs))) {
      for (const auto& row : rows_of(*r)) {
        if (row.size() < 5) continue;
        theirs = std::stoull(row[0]);
        if (!reply.send(Json{{"event",
                              {{"time", std::stoll(row[1]) / 1000},
                               {"level", row[2]},
                               {"program", row[3]},
                               {"text", row[4]}}}}))
          return;
      }
    }
    log::wait_for_event(own, std::chrono::seconds(1));
  }
}

void Controller::run(const std::vector<std::string>& argv, Reply& reply) {
  auto parsed = console::parse_command(argv);
  const std::string name = parsed->name();
  const auto& args = parsed->args;
  auto progress = [&](std::size_t done, std::size_t total, const std::string& what) {
    reply.progress(done, total, what);
  };
  // A data plane command whose "ok" reply is the answer.
  auto forward = [&](const std::string& line) {
    auto r = dataplane(line);
    if (!r) return reply.error(r.error().message);
    std::string first = r->substr(0, r->find('\n'));
    std::string rest = r->find('\n') == std::string::npos ? "" : r->substr(r->find('\n') + 1);
    reply.answer(true, (first.size() > 3 ? first.substr(3) + "\n" : "") + rest);
  };
  auto changed = [&](const std::string& what) {
    auto composed = recompose(progress);
    if (!composed) return reply.answer(true, what + "\n(" + composed.error().message + ")");
    reply.answer(true, fmt::format("{}\nsnapshot version {}; {}", what, composed->version,
                                   tell_dataplane()));
  };

  if (name == "show status") {
    Json data;
    std::string text;
    auto dp = dataplane("status");
    std::map<std::string, std::string> stats;
    if (dp)
      for (const auto& l : split(*dp, '\n'))
        if (auto colon = l.find(": "); colon != std::string::npos)
          stats[l.substr(0, colon)] = l.substr(colon + 2);
    data["dataplane"] = dp ? Json(stats) : Json{{"error", dp.error().message}};
    const std::string operational =
        !dp ? "UNKNOWN: " + dp.error().message
        : stats["operational"] == "yes"
            ? "operational"
            : "NOT OPERATIONAL: mail waits (4xx): " +
                  (stats["fault"].empty() ? std::string("the HSM, spool or policy is not ready")
                                          : stats["fault"]);
    std::lock_guard lock(state_mutex_);
    std::size_t pending = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(store_.pending(), ec))
      pending += e.path().extension() == ".pem";
    data["control"] = {{"directory", config_.directory.uri},
                       {"directory_ok", last_error_.empty() && last_success_ != 0},
                       {"last_error", last_error_},
                       {"last_attempt", last_attempt_},
                       {"last_success", last_success_},
                       {"next_sync", next_sync_},
                       {"failures", failures_},
                       {"snapshot_version", version_},
                       {"snapshot", config_.snapshot_file().string()},
                       {"pending_certificates", pending},
                       {"dataplane_told", last_dataplane_}};
    text += fmt::format("gateway      {}\n", operational);
    if (dp)
      text += fmt::format("             version {}, {} in flight, {} held\n", stats["version"],
                          stats["in flight"], stats["held"]);
    text += fmt::format("directory    {}\n", config_.directory.uri);
    if (!last_error_.empty())
      text += fmt::format(
          "             UNREACHABLE since {} ({} failures): {}\n"
          "             last good sync {}; next try {}\n",
          when(last_attempt_), failures_, last_error_, when(last_success_), when(next_sync_));
    else
      text += fmt::format("             last sync {}; next {}\n", when(last_success_),
                          when(next_sync_));
    // "version N (A agencies, V vendors)" from the data plane; the same version is said once.
    const std::string dp_snapshot = stats["policy snapshot"];
    const std::string ours = fmt::format("version {} ", version_);
    text += fmt::format(
        "snapshot     version {} ({})\n", version_,
        !dp ? "data plane unknown"
        : dp_snapshot.starts_with(ours)
            ? "data plane: the same, " +
                  dp_snapshot.substr(ours.size() + 1, dp_snapshot.size() - ours.size() - 2)
            : "data plane has " + dp_snapshot);
    if (pending)
      text += fmt::format("approval     {} certificates wait: show certificates\n", pending);
    return reply.answer(true, text, data);
  }
  if (name == "show stats") {
    auto dp = dataplane("status");
    if (!dp) return reply.error(dp.error().message);
    Json data = Json::object();
    std::string text;
    for (const auto& l : split(*dp, '\n'))
      if (auto colon = l.find(": "); colon != std::string::npos) {
        data[l.substr(0, colon)] = l.substr(colon + 2);
        text += fmt::format("{:<18} {}\n", l.substr(0, colon), l.substr(colon + 2));
      }
    return reply.answer(true, text, data);
  }
  if (name == "show queue" || name == "show held") {
    auto dp = dataplane(name == "show queue" ? "queue" : "held");
    if (!dp) return reply.error(dp.error().message);
    // Two lines a message: the reason or the last error is what an operator reads, whole.
    Json data = Json::array();
    std::string text;
    for (const auto& r : rows_of(*dp)) {
      if (name == "show queue" && r.size() >= 7) {
        const std::int64_t next = std::stoll(r[3]);
        data.push_back({{"id", r[0]},
                        {"state", r[1]},
                        {"arrival", std::stoll(r[2])},
                        {"next_attempt", next},
                        {"sender", r[4]},
                        {"recipients", split(r[5], ',')},
                        {"last_error", r[6]}});
        text += wrap(
            fmt::format(
                "{}  {:<8} age {:<5} {}  {} -> {}", r[0], r[1], age(std::stoll(r[2])),
                next ? (next <= now() ? "retry now" : "retry in " + span_of(next - now())) : "",
                r[4], r[5]),
            4);
        if (!r[6].empty()) text += wrap("    last error: " + r[6], 4);
      } else if (name == "show held" && r.size() >= 5) {
        data.push_back({{"id", r[0]},
                        {"arrival", std::stoll(r[1])},
                        {"sender", r[2]},
                        {"recipients", split(r[3], ',')},
                        {"reason", r[4]}});
        text += wrap(
            fmt::format("{}  held {:<5} {} -> {}", r[0], age(std::stoll(r[1])), r[2], r[3]), 4);
        text += wrap("    " + r[4], 4);
      }
    }
    if (data.empty()) text = name == "show queue" ? "the queue is empty\n" : "nothing is held\n";
    return reply.answer(true, text, data);
  }
  if (name == "show certificates") {
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows;
    if (auto dp = dataplane("certificates")) {
      for (const auto& r : rows_of(*dp)) {
        if (r.size() < 5) continue;
        data.push_back({{"domain", r[0]},
                        {"source", r[1]},
                        {"state", r[2]},
                        {"subject", r[3]},
                        {"not_after", r[4]}});
        rows.push_back({r[0], r[1], r[2], r[4], r[3]});
      }
    } else {
      return reply.error(dp.error().message);
    }
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(store_.pending(), ec)) {
      if (e.path().extension() != ".pem") continue;
      auto cert = x509::load_certificate_file(e.path().string());
      if (!cert) continue;
      const std::string d = e.path().stem().string();
      const std::string expires = asn1_time(X509_get0_notAfter(cert->get())).substr(0, 10);
      data.push_back({{"domain", d},
                      {"source", "directory"},
                      {"state", "awaiting approval"},
                      {"subject", x509::subject_text(cert->get())},
                      {"not_after", expires}});
      rows.push_back(
          {d, "directory", "awaiting approval", expires, x509::subject_text(cert->get())});
    }
    return reply.answer(
        true,
        render_table({"DOMAIN", "SOURCE", "STATE", "EXPIRES", "SUBJECT"}, rows, {22, 9, 17, 10}),
        data);
  }
  if (name == "show agencies") {
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& a : stored_agencies(store_)) {
      data.push_back(
          {{"domain", a.domain}, {"list", a.list}, {"community", a.community}, {"name", a.name}});
      rows.push_back({a.domain, a.list, a.community, a.name});
    }
    std::lock_guard lock(state_mutex_);
    std::string text = render_table({"DOMAIN", "LIST", "COMMUNITY", "NAME"}, rows, {30, 7, 10});
    text += fmt::format("(from the directory at {})\n", when(last_success_));
    return reply.answer(true, text, data);
  }
  if (name == "show trusted") {
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows;
    std::error_code ec;
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(store_.trusted(), ec)) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      std::string subject = "-";
      if (f.extension() == ".pem")
        if (auto cert = x509::load_certificate_file(f.string()))
          subject = x509::subject_text(cert->get());
      data.push_back({{"match", f.stem().string()}, {"certificate", subject}});
      rows.push_back({f.stem().string(), subject});
    }
    return reply.answer(true, render_table({"MATCH", "CERTIFICATE"}, rows, {32}), data);
  }
  if (name == "show crl") {
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(config_.crl_cache_dir(), ec)) {
      if (e.path().extension() != ".crl") continue;
      auto crl = x509::load_crl_file(e.path().string());
      if (!crl) continue;
      char issuer[256];
      X509_NAME_oneline(X509_CRL_get_issuer(crl->get()), issuer, sizeof issuer);
      const auto* revoked = X509_CRL_get_REVOKED(crl->get());
      const int n = revoked ? sk_X509_REVOKED_num(revoked) : 0;
      const std::string this_update = asn1_time(X509_CRL_get0_lastUpdate(crl->get()));
      const std::string next_update = asn1_time(X509_CRL_get0_nextUpdate(crl->get()));
      data.push_back({{"issuer", issuer},
                      {"this_update", this_update},
                      {"next_update", next_update},
                      {"revoked", n},
                      {"file", e.path().string()}});
      rows.push_back({this_update, next_update, std::to_string(n), issuer});
    }
    return reply.answer(
        true, render_table({"THIS UPDATE", "NEXT UPDATE", "REVOKED", "ISSUER"}, rows, {17, 17, 7}),
        data);
  }
  if (name == "show log") {
    const std::size_t count = args.empty() ? 50 : std::stoul(args[0]);
    std::vector<std::tuple<std::int64_t, std::string, std::string, std::string>> events;
    for (const auto& e : log::events_after(0))
      events.emplace_back(e.time_ms, std::string(log::level_name(e.level)), e.program, e.text);
    std::string note;
    if (auto dp = dataplane("log 0")) {
      for (const auto& r : rows_of(*dp))
        if (r.size() >= 5) events.emplace_back(std::stoll(r[1]), r[2], r[3], r[4]);
    } else {
      note = "(the data plane's events are missing: " + dp.error().message + ")\n";
    }
    std::sort(events.begin(), events.end());
    if (events.size() > count)
      events.erase(events.begin(), events.end() - static_cast<std::ptrdiff_t>(count));
    Json data = Json::array();
    std::string text;
    for (const auto& [t, level, program, what] : events) {
      data.push_back({{"time", t / 1000}, {"level", level}, {"program", program}, {"text", what}});
      text += wrap(fmt::format("{} {:<7} {}: {}", when(t / 1000), level, program, what), 4);
    }
    if (events.empty()) text = "no faults, alerts or intrusions since start\n";
    return reply.answer(true, note + text, data);
  }
  if (name == "monitor log") {
    monitor_log(reply);
    return reply.answer(true, "");
  }
  if (name == "queue explain") {
    auto r = dataplane("explain " + args[0]);
    if (!r) return reply.error(r.error().message);
    std::string text;
    for (const auto& l : split(r->substr(r->find('\n') + 1), '\n'))
      if (!l.empty()) text += wrap(l, 6);
    return reply.answer(true, text);
  }
  if (name == "queue release" || name == "queue delete" || name == "queue requeue")
    return forward(name.substr(6) + " " + args[0]);
  if (name == "trusted add") {
    const std::string match = ascii_lower(args[0]);
    const fs::path pem = store_.trusted() / (match + ".pem");
    const fs::path none = store_.trusted() / (match + ".none");
    if (args.size() > 1) {
      auto certs = x509::load_certificates(args[1]);
      if (!certs || certs->empty()) return reply.error("that file holds no certificate");
      if (auto w = write_file_atomically(pem, x509::to_pem(certs->front().get())); !w)
        return reply.error(w.error().message);
      fs::remove(none);
    } else {
      if (auto w = write_file_atomically(none, ""); !w) return reply.error(w.error().message);
      fs::remove(pem);
    }
    return changed(match + " added to the TRUSTED list");
  }
  if (name == "trusted remove") {
    const std::string match = ascii_lower(args[0]);
    std::error_code ec;
    const bool a = fs::remove(store_.trusted() / (match + ".pem"), ec);
    const bool b = fs::remove(store_.trusted() / (match + ".none"), ec);
    if (!a && !b) return reply.error(match + " is not on the TRUSTED list");
    return changed(match + " removed from the TRUSTED list");
  }
  if (name == "certificate discover")
    return discover_certificate(ascii_lower(args[0]), reply, progress);
  if (name == "certificate approve") {
    const std::string domain = ascii_lower(args[0]);
    const fs::path waiting = store_.pending() / (domain + ".pem");
    std::error_code ec;
    if (fs::exists(waiting, ec)) {
      fs::create_directories(store_.discovered(), ec);
      fs::rename(waiting, store_.discovered() / (domain + ".pem"), ec);
      if (ec) return reply.error("approve: " + ec.message());
      return changed("the directory's certificate for " + domain + " is approved");
    }
    // Otherwise one the data plane learnt from signed mail (IN-4).
    return forward("approve " + domain);
  }
  if (name == "certificate import") {
    const std::string domain = ascii_lower(args[0]);
    auto certs = x509::load_certificates(args[1]);
    if (!certs || certs->empty()) return reply.error("that file holds no certificate");
    X509* cert = certs->front().get();
    auto addresses = x509::certificate_addresses(cert);
    const bool covers = std::any_of(addresses.begin(), addresses.end(), [&](const std::string& a) {
      auto at = a.find('@');
      return at != std::string::npos && x509::domain_covered(domain, a.substr(at + 1));
    });
    if (!covers)
      return reply.error(fmt::format("the certificate ({}) names no address at {} (DIR-3)",
                                     x509::subject_text(cert), domain));
    if (auto w = write_file_atomically(store_.imported() / (domain + ".pem"), x509::to_pem(cert));
        !w)
      return reply.error(w.error().message);
    // The administrator has chosen: a directory certificate waiting for approval is moot.
    std::error_code ec;
    fs::remove(store_.pending() / (domain + ".pem"), ec);
    const std::string no_cdp = x509::missing_crl_distribution_point(cert);
    return changed(fmt::format("{} is used for {} (imported){}", x509::subject_text(cert), domain,
                               no_cdp.empty() ? "" : "\nwarning: " + no_cdp));
  }
  if (name == "certificate publish") {
    auto published = publish_own_certificate();
    if (!published) return reply.error(published.error().message);
    return reply.answer(true, *published + "\n");
  }
  if (name == "certificate export") {
    auto r = dataplane("export " + ascii_lower(args[0]));
    if (r) return reply.answer(true, r->substr(3));
    for (const auto& dir : {store_.imported(), store_.discovered(), store_.pending()})
      if (auto text = read_file(dir / (ascii_lower(args[0]) + ".pem")))
        return reply.answer(true, *text);
    return reply.error(r.error().message);
  }
  if (name == "key list") {
    auto dp = dataplane("key list");
    if (!dp) return reply.error(dp.error().message);
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& r : rows_of(*dp)) {
      if (r.size() < 4) continue;
      data.push_back({{"label", r[0]}, {"type", r[1]}, {"use", r[2]}, {"protection", r[3]}});
      rows.push_back(r);
    }
    return reply.answer(
        true, render_table({"LABEL", "TYPE", "USE", "PROTECTION"}, rows, {24, 9, 7}), data);
  }
  if (name == "key generate")
    return forward("key generate " + args[0] + (args.size() > 1 ? " " + args[1] : ""));
  if (name == "key csr")
    return forward("key csr " + args[0] + " " + args[1] + (args.size() > 2 ? " " + args[2] : ""));
  if (name == "key install") return forward("key install " + args[0] + " " + base64(args[1]));
  if (name == "key rollover") return rollover_key(args, reply);
  if (name == "key switch") return switch_key(args, reply);
  if (name == "key retire") return forward("key retire " + args[0]);
  if (name == "ping") return forward("ping " + ascii_lower(args[0]));
  if (name == "config show") return reply.answer(true, describe(config_));
  if (name == "config check") {
    std::string text;
    bool ok = true;
    if (auto c = load_control_config(config_.file); c) {
      text += config_.file.string() + ": valid\n";
    } else {
      ok = false;
      text += c.error().message + "\n";
    }
    if (auto dp = dataplane("check"); dp) {
      text += dp->substr(3);
    } else {
      ok = false;
      text += dp.error().message + "\n";
    }
    return reply.answer(ok, text);
  }
  if (name == "config reload") {
    // The running daemon's settings are read once, at start: threads read them without locks.
    // A reload checks the file, so a restart will not fail, then does what a reload is for now.
    auto c = load_control_config(config_.file);
    if (!c) return reply.error(c.error().message + " (fix it before seegw-control restarts)");
    log::notice("control: {} checked; a changed configuration takes effect at restart",
                config_.file.string());
    auto r = sync(progress);
    return reply.answer(r.has_value(), config_.file.string() +
                                           ": valid (changes take effect when seegw-control "
                                           "restarts)\n" +
                                           (r ? *r : r.error().message));
  }
  if (name == "directory sync" || name == "crl refresh") {
    if (name == "directory sync") {
      auto r = sync(progress);
      return reply.answer(r.has_value(), r ? *r : r.error().message);
    }
    auto composed = recompose(progress);
    if (!composed) return reply.error(composed.error().message);
    std::string text = fmt::format("snapshot version {}; {} CRL problems\n", composed->version,
                                   composed->crl_problems.size());
    for (const auto& p : composed->crl_problems) text += p + "\n";
    return reply.answer(true, text + tell_dataplane());
  }
  if (name == "audit show") {
    auto entries =
        audit::read_audit_log(config_.audit_file(), args.empty() ? 20 : std::stoul(args[0]));
    if (!entries) return reply.error(entries.error().message);
    Json data = Json::array();
    std::vector<std::vector<std::string>> rows;
    for (const auto& e : *entries) {
      data.push_back({{"seq", e.seq},
                      {"time", e.time},
                      {"uid", e.uid},
                      {"user", e.user},
                      {"role", e.role},
                      {"command", e.command},
                      {"outcome", e.outcome},
                      {"hash", e.hash}});
      rows.push_back({std::to_string(e.seq), when(e.time), e.user, e.command + " -> " + e.outcome});
    }
    return reply.answer(
        true, render_table({"SEQ", "TIME", "USER", "COMMAND -> OUTCOME"}, rows, {5, 20, 10}), data);
  }
  if (name == "audit verify") {
    auto v = audit::verify_audit_log(config_.audit_file());
    Json data{{"intact", v.intact},
              {"records", v.records},
              {"problem", v.problem},
              {"bad_line", v.bad_line}};
    if (!v.intact) {
      log::error("audit: {} failed verification: {}", config_.audit_file().string(), v.problem);
      return reply.answer(
          false, fmt::format("TAMPERED: {} ({} records verified before it)", v.problem, v.records),
          data);
    }
    return reply.answer(
        true, fmt::format("audit log intact: {} records, hash chain and head agree", v.records),
        data);
  }
  reply.error("'" + name + "' is not implemented by this seegw-control");
}

}  // namespace seegw::daemon
