// seegw-dataplane: accepts mail over SMTP, spools it durably and relays it to its next hop.
// Trusts: its config file and spool directory. Does not trust: anything a network peer sends.
#include <signal.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "seegw/common/log.hpp"
#include "seegw/config/config.hpp"
#include "seegw/relay/gateway.hpp"

namespace {

void usage() {
  std::fputs(
      "usage: seegw-dataplane [--config FILE] [--check-config] [--verbose] [--syslog]\n"
      "  Without --config the embedded defaults are used: listen on 127.0.0.1:2525, spool in\n"
      "  ./spool, the policy snapshot in ./policy.toml, local mail to 127.0.0.1:10025,\n"
      "  everything else to 127.0.0.1:10026. Without a good policy snapshot the gateway answers\n"
      "  4xx and sends nothing until one arrives.\n",
      stderr);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace seegw;
  log::set_program("seegw-dataplane");
  std::string config_file;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_file = argv[++i];
    } else if (arg == "--check-config") {
      check_only = true;
    } else if (arg == "--verbose") {
      log::set_min_level(log::Level::debug);
    } else if (arg == "--syslog") {
      log::enable_syslog(true);
    } else {
      usage();
      return 2;
    }
  }
  auto config = config_file.empty() ? config::parse("") : config::load(config_file);
  if (!config) {
    log::error("configuration: {}", config.error().message);
    return 2;
  }
  if (check_only) {
    std::puts("configuration ok");
    return 0;
  }

  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  auto gateway = relay::Gateway::start(std::move(*config));
  if (!gateway) {
    log::error("start-up failed: {}", gateway.error().message);
    return 1;
  }
  int sig = 0;
  sigwait(&signals, &sig);
  log::notice("received {}, stopping; spooled mail is resumed at the next start", strsignal(sig));
  (*gateway)->stop();
  return 0;
}
