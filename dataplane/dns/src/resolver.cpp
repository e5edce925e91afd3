#include "seegw/dns/resolver.hpp"

#include <fmt/format.h>
#include <unbound.h>

namespace seegw::dns {

struct Resolver::Impl {
  ub_ctx* ctx = nullptr;
  ~Impl() {
    if (ctx) ub_ctx_delete(ctx);
  }
};

namespace {
std::unexpected<Error> ub_fail(std::string_view what, int code) {
  return fail(Errc::config, fmt::format("DNS resolver: {}: {}", what, ub_strerror(code)));
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
  return r;
}

Resolver::~Resolver() = default;

Result<Answer> Resolver::query(std::string_view name, RrType type) {
  ub_result* result = nullptr;
  const std::string n(name);
  if (int e = ub_resolve(impl_->ctx, n.c_str(), static_cast<int>(type), 1, &result); e != 0)
    return fail(Errc::unavailable, fmt::format("DNS {}: {}", n, ub_strerror(e)));
  std::unique_ptr<ub_result, decltype(&ub_resolve_free)> owned(result, ub_resolve_free);
  if (result->rcode != 0 && result->rcode != 3)  // neither NOERROR nor NXDOMAIN
    return fail(Errc::unavailable, fmt::format("DNS {}: rcode {}", n, result->rcode));
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
