#include "seegw/dns/resolver.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <unbound.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <mutex>
#include <thread>

namespace seegw::dns {

// libunbound's synchronous ub_resolve builds a worker (event base, sockets, random state) for
// every question; answered from the cache, that set-up was most of a lookup's cost. So the
// questions go to one background worker (ub_ctx_async), and one thread of ours reads its
// answers (ub_process) and wakes whoever asked.
struct Resolver::Impl {
  ub_ctx* ctx = nullptr;
  std::chrono::milliseconds query_timeout{15000};
  int stop_pipe[2] = {-1, -1};
  std::thread dispatcher;

  ~Impl() {
    if (dispatcher.joinable()) {
      (void)!::write(stop_pipe[1], "x", 1);
      dispatcher.join();
    }
    for (int fd : stop_pipe)
      if (fd >= 0) ::close(fd);
    if (ctx) ub_ctx_delete(ctx);  // stops the background worker
  }

  void dispatch() {
    pollfd fds[2] = {{ub_fd(ctx), POLLIN, 0}, {stop_pipe[0], POLLIN, 0}};
    while (true) {
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if (fds[1].revents) return;
      // libunbound's worker gone (its pipe closed): stop rather than spin; questions still
      // waiting end at their timeout.
      if (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) return;
      if (fds[0].revents) (void)ub_process(ctx);
    }
  }
};

namespace {
std::unexpected<Error> ub_fail(std::string_view what, int code) {
  return fail(Errc::config, fmt::format("DNS resolver: {}: {}", what, ub_strerror(code)));
}

Result<Answer> answer_of(const std::string& name, const ub_result* result) {
  if (result->rcode != 0 && result->rcode != 3)  // neither NOERROR nor NXDOMAIN
    return fail(Errc::unavailable, fmt::format("DNS {}: rcode {}", name, result->rcode));
  Answer a;
  a.nxdomain = result->nxdomain != 0;
  a.secure = result->secure != 0;
  if (result->answer_packet && result->answer_len > 0)
    a.packet.assign(static_cast<const char*>(result->answer_packet),
                    static_cast<std::size_t>(result->answer_len));
  if (result->bogus) {
    a.bogus = result->why_bogus ? result->why_bogus : "DNSSEC validation failed";
    return a;  // no data from a zone that failed validation
  }
  if (result->havedata)
    for (int i = 0; result->data[i]; ++i) a.rdata.emplace_back(result->data[i], result->len[i]);
  a.exists = !a.rdata.empty();
  return a;
}

// One question in flight: the dispatcher's callback fills it and wakes the asker.
struct Pending {
  std::string name;
  std::mutex mutex;
  std::condition_variable answered;
  bool done = false;
  Result<Answer> answer = fail(Errc::unavailable, "no answer");
};

void on_answer(void* data, int error, ub_result* result) {
  auto* p = static_cast<Pending*>(data);
  Result<Answer> answer =
      error != 0 ? fail(Errc::unavailable, fmt::format("DNS {}: {}", p->name, ub_strerror(error)))
                 : answer_of(p->name, result);
  if (result) ub_resolve_free(result);
  std::lock_guard lock(p->mutex);
  p->answer = std::move(answer);
  p->done = true;
  p->answered.notify_one();
}
}  // namespace

Result<std::unique_ptr<Resolver>> Resolver::create(const ResolverSettings& settings) {
  std::unique_ptr<Resolver> r(new Resolver());
  r->impl_ = std::make_unique<Impl>();
  auto* ctx = r->impl_->ctx = ub_ctx_create();
  if (!ctx) return fail(Errc::config, "DNS resolver: libunbound could not start");
  // Forwarders on loopback are the usual appliance set-up (a local validating resolver).
  if (int e = ub_ctx_set_option(ctx, "do-not-query-localhost:", "no"); e != 0)
    return ub_fail("do-not-query-localhost", e);
  if (settings.forwarders.empty()) {
    if (int e = ub_ctx_resolvconf(ctx, nullptr); e != 0) return ub_fail("/etc/resolv.conf", e);
  }
  for (const auto& f : settings.forwarders)
    if (int e = ub_ctx_set_fwd(ctx, f.c_str()); e != 0) return ub_fail("forwarder " + f, e);
  for (const auto& a : settings.trust_anchor_files)
    if (int e = ub_ctx_add_ta_file(ctx, a.c_str()); e != 0) return ub_fail("trust anchor " + a, e);
  if (int e = ub_ctx_async(ctx, 1); e != 0) return ub_fail("background worker", e);
  r->impl_->query_timeout = settings.query_timeout;
  if (::pipe2(r->impl_->stop_pipe, O_CLOEXEC) != 0)
    return fail(Errc::config, "DNS resolver: no pipe for its dispatcher");
  r->impl_->dispatcher = std::thread([impl = r->impl_.get()] { impl->dispatch(); });
  return r;
}

Resolver::~Resolver() = default;

// Past the timeout the question is cancelled; if its answer is already on its way (ub_cancel
// finds no such question), the answer is waited for, as the callback still has `pending`.
Result<Answer> Resolver::query(std::string_view name, RrType type) {
  Pending pending;
  pending.name = std::string(name);
  int id = 0;
  if (int e = ub_resolve_async(impl_->ctx, pending.name.c_str(), static_cast<int>(type), 1,
                               &pending, on_answer, &id);
      e != 0)
    return fail(Errc::unavailable, fmt::format("DNS {}: {}", pending.name, ub_strerror(e)));
  std::unique_lock lock(pending.mutex);
  if (!pending.answered.wait_for(lock, impl_->query_timeout, [&] { return pending.done; })) {
    lock.unlock();  // the callback may be waiting for it
    if (ub_cancel(impl_->ctx, id) == 0)
      return fail(Errc::unavailable, fmt::format("DNS {}: no answer in {} ms", pending.name,
                                                 impl_->query_timeout.count()));
    lock.lock();
    pending.answered.wait(lock, [&] { return pending.done; });
  }
  return std::move(pending.answer);
}

Result<std::vector<std::string>> Resolver::txt(std::string_view name, bool* secure) {
  auto a = query(name, RrType::txt);
  if (!a) return std::unexpected(a.error());
  if (secure) *secure = a->secure;
  if (!a->bogus.empty())
    return fail(Errc::unavailable, fmt::format("DNS {}: bogus ({})", name, a->bogus));
  std::vector<std::string> out;
  for (const auto& r : a->rdata) out.push_back(txt_rdata_text(r));
  return out;
}

}  // namespace seegw::dns
