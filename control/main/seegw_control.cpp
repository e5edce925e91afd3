// seegw-control: the control process. `run` is the daemon (directory sync and CRLs on a schedule,
// the policy snapshot, the console's API and the audit log); the other commands do one piece of
// that work once, for installation and troubleshooting.
//
//   seegw-control --config FILE run
//   seegw-control --config FILE directory agencies
//   seegw-control --config FILE directory discover DOMAIN
//   seegw-control --config FILE crl refresh CERTIFICATE.pem...
//   seegw-control --config FILE ocsp check CERTIFICATE.pem...
//   seegw-control --config FILE snapshot --out FILE
//
// Exit status: 0 ok; 1 the directory is unreachable (the last snapshot stays as it is);
// 2 usage or configuration error; 3 the directory answered with an error.
#include <signal.h>

#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "seegw/common/log.hpp"
#include "seegw/daemon/controller.hpp"

namespace fs = std::filesystem;
using namespace seegw;

namespace {

void usage() {
  std::fputs(
      "usage: seegw-control --config FILE run\n"
      "       seegw-control --config FILE directory agencies\n"
      "       seegw-control --config FILE directory discover DOMAIN\n"
      "       seegw-control --config FILE crl refresh CERTIFICATE.pem...\n"
      "       seegw-control --config FILE ocsp check CERTIFICATE.pem...\n"
      "       seegw-control --config FILE snapshot --out FILE\n"
      "Exit status: 0 ok, 1 directory unreachable, 2 usage or configuration error,\n"
      "3 the directory answered with an error.\n",
      stderr);
}

int status_of(const Error& e) {
  std::fprintf(stderr, "seegw-control: %s\n", e.message.c_str());
  return e.code == Errc::unavailable ? 1 : e.code == Errc::protocol ? 3 : 2;
}

int run_daemon(daemon::ControlConfig config) {
  log::set_program("seegw-control");
  log::enable_syslog(true);  // OPS-4: faults, alerts and intrusions reach syslog as they happen
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGTERM);
  sigaddset(&stop, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop, nullptr);  // before any thread starts: they inherit it
  signal(SIGPIPE, SIG_IGN);
  auto controller = daemon::Controller::start(std::move(config));
  if (!controller) return status_of(controller.error());
  int sig = 0;
  sigwait(&stop, &sig);
  log::notice("seegw-control: stopping (signal {})", sig);
  controller->reset();
  return 0;
}

int crl_refresh(const daemon::ControlConfig& c, const std::vector<std::string>& files) {
  int status = 0;
  for (const auto& f : files) {
    auto cert = x509::load_certificate_file(f);
    if (!cert) {
      status = std::max(status, status_of(cert.error()));
      continue;
    }
    auto results = daemon::refresh_crls(c, cert->get());
    if (results.empty())
      std::printf("%s: no CRL distribution point, or no trusted issuer\n", f.c_str());
    for (const auto& r : results) {
      std::printf("%s: %s: %s\n", f.c_str(), r.uri.c_str(), r.status.c_str());
      if (!r.usable) status = std::max(status, 1);
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.size() < 3 || args[0] != "--config") return usage(), 2;
  auto config = daemon::load_control_config(args[1]);
  if (!config) return status_of(config.error());
  args.erase(args.begin(), args.begin() + 2);
  if (args.size() == 1 && args[0] == "run") return run_daemon(std::move(*config));
  if (args.size() == 3 && args[0] == "snapshot" && args[1] == "--out") {
    // Once, by hand: the state lives beside the snapshot unless the config names a place.
    config->snapshot = fs::absolute(args[2]);
    if (config->state_dir == daemon::ControlConfig{}.state_dir)
      config->state_dir = config->snapshot.parent_path() / "control-state";
    const daemon::ControlStore store{config->state_dir};
    auto fetched = daemon::fetch_directory(*config, store, {});
    if (!fetched) return status_of(fetched.error());
    for (const auto& n : fetched->notes) std::fprintf(stderr, "seegw-control: %s\n", n.c_str());
    auto composed = daemon::compose_snapshot(*config, store,
                                             static_cast<std::uint64_t>(std::time(nullptr)), {});
    if (!composed) return status_of(composed.error());
    for (const auto& p : composed->crl_problems)
      std::fprintf(stderr, "seegw-control: %s\n", p.c_str());
    std::printf("snapshot %s: %zu agencies, %zu vendors\n", config->snapshot.c_str(),
                composed->agencies, composed->vendors);
    return 0;
  }
  if (args.size() >= 3 && args[0] == "crl" && args[1] == "refresh")
    return crl_refresh(*config, {args.begin() + 2, args.end()});
  if (args.size() >= 3 && args[0] == "ocsp" && args[1] == "check") {
    // Exit 0 when every certificate got a signed answer (good or revoked), 1 otherwise.
    int status = 0;
    for (std::size_t i = 2; i < args.size(); ++i) {
      auto cert = x509::load_certificate_file(args[i]);
      if (!cert) {
        status = std::max(status, status_of(cert.error()));
        continue;
      }
      auto answers = daemon::check_ocsp(*config, cert->get());
      if (answers.empty()) {
        std::printf("%s: no OCSP responder, or no trusted issuer\n", args[i].c_str());
        status = std::max(status, 1);
      }
      for (const auto& a : answers) {
        std::printf("%s: %s: %s\n", args[i].c_str(), a.url.c_str(), a.status.c_str());
        if (!a.usable) status = std::max(status, 1);
      }
    }
    return status;
  }
  if (args.size() < 2 || args[0] != "directory") return usage(), 2;
  auto dir = directory::Directory::connect(config->directory);
  if (!dir) return status_of(dir.error());
  if (args.size() == 2 && args[1] == "agencies") {
    auto agencies = (*dir)->agencies();
    if (!agencies) return status_of(agencies.error());
    for (const auto& a : *agencies)
      std::printf("%-32s %-8s %-10s %s\n", a.domain.c_str(),
                  a.list == directory::List::seemail ? "SEEMAIL" : "VENDOR",
                  a.community == directory::Community::restricted ? "Restricted" : "Standard",
                  a.name.c_str());
    return 0;
  }
  if (args.size() == 3 && args[1] == "discover") {
    auto found = daemon::discover(**dir, *config, args[2]);
    if (!found) return status_of(found.error());
    if (found->empty()) {
      std::printf("no certificate for %s\n", args[2].c_str());
      return 0;
    }
    for (const auto& v : *found) {
      std::printf("%s: %s%s%s\n", x509::subject_text(v.certificate.get()).c_str(),
                  std::string(x509::state_name(v.validation.state)).c_str(),
                  v.validation.detail.empty() ? "" : " - ", v.validation.detail.c_str());
      for (const auto& w : v.validation.warnings) std::printf("  warning: %s\n", w.c_str());
    }
    return 0;
  }
  usage();
  return 2;
}
