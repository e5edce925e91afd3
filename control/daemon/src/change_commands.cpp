// The administrator's changes: the TRUSTED list, certificates (discover, approve, import,
// publish, export), the configuration and the directory sync. Each ends in a new snapshot that
// the data plane is told of, or says why not.
#include <fmt/format.h>
#include <openssl/x509.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "console_text.hpp"
#include "reply.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/log.hpp"
#include "seegw/common/text.hpp"
#include "seegw/daemon/controller.hpp"
#include "seegw/directory/directory.hpp"
#include "seegw/x509/certificate.hpp"
#include "seegw/x509/validation.hpp"

namespace seegw::daemon {
namespace fs = std::filesystem;

void Controller::cmd_trusted_add(const Call& call, Reply& reply) {
  const auto& args = call.args;
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
  return changed(match + " added to the TRUSTED list", reply, call.progress);
}

void Controller::cmd_trusted_remove(const Call& call, Reply& reply) {
  const auto& args = call.args;
  const std::string match = ascii_lower(args[0]);
  std::error_code ec;
  const bool a = fs::remove(store_.trusted() / (match + ".pem"), ec);
  const bool b = fs::remove(store_.trusted() / (match + ".none"), ec);
  if (!a && !b) return reply.error(match + " is not on the TRUSTED list");
  return changed(match + " removed from the TRUSTED list", reply, call.progress);
}

void Controller::cmd_certificate_discover(const Call& call, Reply& reply) {
  const auto& args = call.args;
  return discover_certificate(ascii_lower(args[0]), reply, call.progress);
}

void Controller::cmd_certificate_approve(const Call& call, Reply& reply) {
  const auto& args = call.args;
  const std::string domain = ascii_lower(args[0]);
  const fs::path waiting = store_.pending() / (domain + ".pem");
  std::error_code ec;
  if (fs::exists(waiting, ec)) {
    fs::create_directories(store_.discovered(), ec);
    fs::rename(waiting, store_.discovered() / (domain + ".pem"), ec);
    if (ec) return reply.error("approve: " + ec.message());
    return changed("the directory's certificate for " + domain + " is approved", reply,
                   call.progress);
  }
  // Otherwise one the data plane learnt from signed mail (IN-4).
  return forward("approve " + domain, reply);
}

void Controller::cmd_certificate_import(const Call& call, Reply& reply) {
  const auto& args = call.args;
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
  if (auto w = write_file_atomically(store_.imported() / (domain + ".pem"), x509::to_pem(cert)); !w)
    return reply.error(w.error().message);
  // The administrator has chosen: a directory certificate waiting for approval is moot.
  std::error_code ec;
  fs::remove(store_.pending() / (domain + ".pem"), ec);
  const std::string no_cdp = x509::missing_crl_distribution_point(cert);
  return changed(fmt::format("{} is used for {} (imported){}", x509::subject_text(cert), domain,
                             no_cdp.empty() ? "" : "\nwarning: " + no_cdp),
                 reply, call.progress);
}

void Controller::cmd_certificate_publish(const Call&, Reply& reply) {
  auto published = publish_own_certificate();
  if (!published) return reply.error(published.error().message);
  return reply.answer(true, *published + "\n");
}

void Controller::cmd_certificate_export(const Call& call, Reply& reply) {
  const auto& args = call.args;
  auto r = dataplane("export " + ascii_lower(args[0]));
  if (r) return reply.answer(true, r->substr(3));
  for (const auto& dir : {store_.imported(), store_.discovered(), store_.pending()})
    if (auto text = read_file(dir / (ascii_lower(args[0]) + ".pem")))
      return reply.answer(true, *text);
  return reply.error(r.error().message);
}

void Controller::cmd_config_check(const Call&, Reply& reply) {
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

void Controller::cmd_config_reload(const Call& call, Reply& reply) {
  // The running daemon's settings are read once, at start: threads read them without locks.
  // A reload checks the file, so a restart will not fail, then does what a reload is for now.
  auto c = load_control_config(config_.file);
  if (!c) return reply.error(c.error().message + " (fix it before seegw-control restarts)");
  log::notice("control: {} checked; a changed configuration takes effect at restart",
              config_.file.string());
  auto r = sync(call.progress);
  return reply.answer(r.has_value(), config_.file.string() +
                                         ": valid (changes take effect when seegw-control "
                                         "restarts)\n" +
                                         (r ? *r : r.error().message));
}

void Controller::cmd_directory_sync(const Call& call, Reply& reply) {
  if (call.name == "directory sync") {
    auto r = sync(call.progress);
    return reply.answer(r.has_value(), r ? *r : r.error().message);
  }
  auto composed = recompose(call.progress);
  if (!composed) return reply.error(composed.error().message);
  std::string text = fmt::format("snapshot version {}; {} CRL problems\n", composed->version,
                                 composed->crl_problems.size());
  for (const auto& p : composed->crl_problems) text += p + "\n";
  return reply.answer(true, text + tell_dataplane());
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
  const std::string sent = r->substr(3, r->find('\n') - 3);  // after "ok "
  log::notice("control: {}; {}", why, sent);
  return why + "; " + sent;
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
  const std::string bytes = x509::to_der(certs->front().get());
  if (bytes.empty()) return fail(Errc::corrupt, "our certificate cannot be encoded");
  auto dir = directory::Directory::connect(config_.directory);
  if (!dir) return std::unexpected(dir.error());
  if (auto p = (*dir)->publish_certificate(config_.directory.publish_dn, bytes); !p)
    return std::unexpected(p.error());
  log::notice("control: certificate {} published to {}", x509::subject_text(certs->front().get()),
              config_.directory.publish_dn);
  return fmt::format("{} published to {}", x509::subject_text(certs->front().get()),
                     config_.directory.publish_dn);
}

}  // namespace seegw::daemon
