// What the console shows: status, statistics, queue and hold queue, certificates, agencies, the
// TRUSTED list, CRLs, the log (once or followed), the audit log and the configuration. Readers
// only: nothing here changes state.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "console_text.hpp"
#include "reply.hpp"
#include "seegw/common/admin_protocol.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/daemon/controller.hpp"
#include "seegw/directory/directory.hpp"
#include "seegw/x509/certificate.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;

void Controller::cmd_show_status(const Call&, Reply& reply) {
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
  if (dp && !stats["inbound checks"].empty() && stats["inbound checks"] != "off")
    text += fmt::format("inbound      {}\n", stats["inbound checks"]);
  if (dp && stats["accepting"].starts_with("no"))
    text += fmt::format(
        "spool        UNDER ITS RESERVE: new mail is answered 452 until space returns\n"
        "             {}\n",
        stats["spool free"]);
  text += fmt::format("directory    {}\n", config_.directory.uri);
  if (!last_error_.empty())
    text += fmt::format(
        "             UNREACHABLE since {} ({} failures): {}\n"
        "             last good sync {}; next try {}\n",
        when(last_attempt_), failures_, last_error_, when(last_success_), when(next_sync_));
  else
    text +=
        fmt::format("             last sync {}; next {}\n", when(last_success_), when(next_sync_));
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

void Controller::cmd_show_stats(const Call&, Reply& reply) {
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

void Controller::cmd_show_queue(const Call& call, Reply& reply) {
  const bool held = call.name == "show held";
  auto dp = dataplane(held ? "held" : "queue");
  if (!dp) return reply.error(dp.error().message);
  // Two lines a message: the reason or the last error is what an operator reads, whole.
  Json data = Json::array();
  std::string text;
  auto envelope = [](const std::string& sender, const std::vector<std::string>& recipients) {
    return fmt::format("<{}> -> {}", sender, fmt::join(recipients, ","));
  };
  if (held) {
    auto rows = admin::decode_held(*dp);
    if (!rows) return reply.error(rows.error().message);
    for (const auto& r : *rows) {
      data.push_back({{"id", r.id},
                      {"arrival", r.arrival},
                      {"sender", r.sender},
                      {"recipients", r.recipients},
                      {"reason", r.reason}});
      text += wrap(
          fmt::format("{}  held {:<5} {}", r.id, age(r.arrival), envelope(r.sender, r.recipients)),
          4);
      text += wrap("    " + r.reason, 4);
    }
  } else {
    auto rows = admin::decode_queue(*dp);
    if (!rows) return reply.error(rows.error().message);
    for (const auto& r : *rows) {
      const std::int64_t next = r.next_attempt;
      data.push_back({{"id", r.id},
                      {"state", r.state},
                      {"arrival", r.arrival},
                      {"next_attempt", next},
                      {"sender", r.sender},
                      {"recipients", r.recipients},
                      {"last_error", r.last_error}});
      text +=
          wrap(fmt::format(
                   "{}  {:<8} age {:<5} {}  {}", r.id, r.state, age(r.arrival),
                   next ? (next <= now() ? "retry now" : "retry in " + span_of(next - now())) : "",
                   envelope(r.sender, r.recipients)),
               4);
      if (!r.last_error.empty()) text += wrap("    last error: " + r.last_error, 4);
    }
  }
  if (data.empty()) text = held ? "nothing is held\n" : "the queue is empty\n";
  return reply.answer(true, text, data);
}

void Controller::cmd_show_certificates(const Call&, Reply& reply) {
  Json data = Json::array();
  std::vector<std::vector<std::string>> rows;
  auto dp = dataplane("certificates");
  if (!dp) return reply.error(dp.error().message);
  auto held = admin::decode_certificates(*dp);
  if (!held) return reply.error(held.error().message);
  for (const auto& r : *held) {
    data.push_back({{"domain", r.domain},
                    {"source", r.source},
                    {"state", r.state},
                    {"subject", r.subject},
                    {"not_after", r.not_after}});
    rows.push_back({r.domain, r.source, r.state, r.not_after, r.subject});
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
    rows.push_back({d, "directory", "awaiting approval", expires, x509::subject_text(cert->get())});
  }
  return reply.answer(
      true,
      render_table({"DOMAIN", "SOURCE", "STATE", "EXPIRES", "SUBJECT"}, rows, {22, 9, 17, 10}),
      data);
}

void Controller::cmd_show_agencies(const Call&, Reply& reply) {
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

void Controller::cmd_show_trusted(const Call&, Reply& reply) {
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

void Controller::cmd_show_crl(const Call&, Reply& reply) {
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

Result<std::vector<admin::LogRow>> Controller::their_log(std::uint64_t after) {
  auto answer = dataplane("log " + std::to_string(after));
  if (!answer) return std::unexpected(answer.error());
  return admin::decode_log(*answer);
}

void Controller::cmd_show_log(const Call& call, Reply& reply) {
  const auto& args = call.args;
  const std::size_t count = args.empty() ? 50 : std::stoul(args[0]);
  std::vector<std::tuple<std::int64_t, std::string, std::string, std::string>> events;
  for (const auto& e : log::events_after(0))
    events.emplace_back(e.time_ms, std::string(log::level_name(e.level)), e.program, e.text);
  std::string note;
  auto theirs = their_log(0);
  if (theirs)
    for (const auto& r : *theirs) events.emplace_back(r.time_ms, r.level, r.program, r.text);
  else
    note = "(the data plane's events are missing: " + theirs.error().message + ")\n";
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

void Controller::cmd_monitor_log(const Call&, Reply& reply) {
  monitor_log(reply);
  return reply.answer(true, "");
}

void Controller::cmd_audit_show(const Call& call, Reply& reply) {
  const auto& args = call.args;
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

void Controller::cmd_audit_verify(const Call&, Reply& reply) {
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

void Controller::cmd_config_show(const Call&, Reply& reply) {
  return reply.answer(true, describe(config_));
}

void Controller::monitor_log(Reply& reply) {
  std::uint64_t own = 0, theirs = 0;
  for (const auto& e : log::events_after(0)) own = e.seq;
  if (auto rows = their_log(0))
    for (const auto& row : *rows) theirs = std::max(theirs, row.seq);
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
    if (auto rows = their_log(theirs)) {
      for (const auto& row : *rows) {
        theirs = row.seq;
        if (!reply.send(Json{{"event",
                              {{"time", row.time_ms / 1000},
                               {"level", row.level},
                               {"program", row.program},
                               {"text", row.text}}}}))
          return;
      }
    }
    log::wait_for_event(own, std::chrono::seconds(1));
  }
}

}  // namespace seegw::daemon
