// seegw-dataplane: accepts mail over SMTP, spools it durably and relays it to its next hop.
// Trusts: its config file and spool directory. Does not trust: anything a network peer sends.
#include <signal.h>
#include <sys/resource.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "seegw/common/log.hpp"
#include "seegw/common/memory.hpp"
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

// Every SMTP session is a file descriptor, and so is every outbound connection, spool file and
// token session: the soft limit goes up to the hard one, and a limit [smtp] max_connections
// cannot fit in is said loudly (the loops then pause accepting instead of spinning).
void raise_file_limit(const seegw::config::Config& c) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return;
  if (limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    (void)::setrlimit(RLIMIT_NOFILE, &limit);
    (void)::getrlimit(RLIMIT_NOFILE, &limit);
  }
  constexpr rlim_t kReserve = 256;  // spool, listeners, outbound pools, the token, logs
  const rlim_t needed = static_cast<rlim_t>(c.max_connections) + kReserve;
  if (limit.rlim_cur != RLIM_INFINITY && limit.rlim_cur < needed)
    seegw::log::error(
        "the open-file limit is {} but [smtp] max_connections = {} needs about {}: clients beyond "
        "the limit wait (raise LimitNOFILE / ulimit -n, or lower max_connections)",
        static_cast<unsigned long long>(limit.rlim_cur), c.max_connections,
        static_cast<unsigned long long>(needed));
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

  memory::keep_freed_message_buffers();
  // Signals are taken synchronously by this thread; every other thread inherits the mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  raise_file_limit(*config);
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
