#include "seegw/relay/gateway.hpp"

#include <fcntl.h>
#include <unistd.h>

#include "seegw/common/log.hpp"
#include "worker.hpp"

namespace seegw::relay {

namespace {
// One limiter for the process; kept outside Gateway's header to keep that header narrow.
std::unique_ptr<ConnectionLimiter> g_limiter;
}  // namespace

Result<std::unique_ptr<Gateway>> Gateway::start(config::Config config) {
  std::unique_ptr<Gateway> gw(new Gateway());
  gw->config_ = std::move(config);
  const auto& c = gw->config_;

  auto matcher = scan::Matcher::create();
  if (!matcher) return std::unexpected(matcher.error());
  gw->matcher_ = *matcher;

  auto spool = spool::Spool::open(c.spool_path, c.sync_mode);
  if (!spool) return std::unexpected(spool.error());
  gw->spool_ = std::move(*spool);

  std::shared_ptr<tls::TlsContext> server_tls, client_tls;
  if (!c.tls_cert_file.empty()) {
    auto ctx = tls::TlsContext::server(c.tls_cert_file, c.tls_key_file);
    if (!ctx) return std::unexpected(ctx.error());
    server_tls = *ctx;
  }
  auto client = tls::TlsContext::client(c.relay_tls_ca_file);
  if (!client) return std::unexpected(client.error());
  client_tls = *client;

  // OPS-1: with an HSM configured, start not operational and let the health check decide.
  if (c.hsm.configured()) {
    std::string why;
    gw->operational_ = gw->check_health(why);
    if (!gw->operational_)
      log::error("not operational: {}; SMTP answers 4xx until it is fixed", why);
  }

  gw->queue_ = std::make_unique<QueueManager>(
      c, *gw->spool_, *gw->matcher_,
      [g = gw.get()](DeliveryJob job) { g->dispatch(std::move(job)); });
  g_limiter = std::make_unique<ConnectionLimiter>(c.max_connections, c.max_connections_per_client);

  // One listening socket per address, without SO_REUSEPORT: a second gateway started on the same
  // port by mistake fails with "address in use" instead of silently taking half the mail.
  for (const auto& hp : c.listen) {
    std::string error;
    int fd = io::listen_tcp(hp.host, hp.port, false, error);
    if (fd < 0) return fail(Errc::io, error);
    gw->listening_fds_.push_back(fd);
  }
  unsigned n = c.io_threads ? c.io_threads : std::max(1u, std::thread::hardware_concurrency());
  for (unsigned i = 0; i < n; ++i) {
    gw->workers_.push_back(
        std::make_unique<Worker>(Shared{gw->config_, *gw->spool_, *gw->queue_, *g_limiter,
                                        server_tls, client_tls, &gw->operational_}));
    if (auto listening = gw->workers_.back()->listen(gw->listening_fds_); !listening)
      return std::unexpected(listening.error());
  }
  gw->queue_->set_operational([g = gw.get()] { return g->operational(); });
  gw->queue_->start();
  for (auto& w : gw->workers_) gw->threads_.emplace_back([w = w.get()] { w->run(); });
  gw->health_ = std::thread([g = gw.get()] { g->watch_health(); });
  std::string where;
  for (auto& l : c.listen) where += " " + l.text();
  log::notice("seegw-dataplane: listening on{} with {} I/O loops; spool {}", where, n,
              c.spool_path.string());
  return gw;
}

void Gateway::dispatch(DeliveryJob job) {
  static std::atomic<std::size_t> next{0};
  workers_[next.fetch_add(1, std::memory_order_relaxed) % workers_.size()]->deliver(std::move(job));
}

bool Gateway::check_health(std::string& why) {
  if (::faccessat(AT_FDCWD, (config_.spool_path / "incoming").c_str(), W_OK, 0) != 0) {
    why = "the spool is not writable";
    return false;
  }
  if (!config_.hsm.configured()) return true;
  if (!hsm_) {
    auto opened = pkcs11::Hsm::open({config_.hsm.module, config_.hsm.token, config_.hsm.pin_file});
    if (!opened) {
      why = "HSM: " + opened.error().message;
      return false;
    }
    hsm_ = std::move(*opened);
  }
  if (auto ok = hsm_->check(config_.hsm.key_label); !ok) {
    why = "HSM: " + ok.error().message;
    hsm_.reset();  // open it afresh next time
    return false;
  }
  return true;
}

void Gateway::watch_health() {
  const auto interval =
      config_.hsm.configured() ? config_.hsm.check_interval : std::chrono::seconds(5);
  while (true) {
    {
      std::unique_lock lock(health_mutex_);
      if (health_wake_.wait_for(lock, interval, [&] { return health_stop_; })) return;
    }
    std::string why;
    const bool ok = check_health(why);
    if (ok != operational_.exchange(ok)) {
      if (ok)
        log::notice("operational again: accepting and sending mail");
      else
        log::error("not operational: {}; SMTP answers 4xx, outbound mail waits", why);
    }
  }
}

void Gateway::stop() {
  if (stopped_) return;
  stopped_ = true;
  {
    std::lock_guard lock(health_mutex_);
    health_stop_ = true;
  }
  health_wake_.notify_all();
  if (health_.joinable()) health_.join();
  for (auto& w : workers_) w->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  queue_->stop();
  spool_.reset();  // joins the writer: its callbacks only post to loops that still exist
}

Gateway::~Gateway() {
  stop();
  workers_.clear();
  for (int fd : listening_fds_) ::close(fd);
}

}  // namespace seegw::relay
