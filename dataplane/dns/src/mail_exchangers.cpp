#include "seegw/dns/mail_exchangers.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <random>

namespace seegw::dns {
namespace {

constexpr std::size_t kMaxExchangers = 10;  // a hostile zone does not make us try hundreds
constexpr std::size_t kMaxAddresses = 20;   // nor a host with hundreds of addresses

// The host's addresses, IPv4 first; a failed lookup counts as none (the next exchange is tried).
std::vector<std::string> addresses_of(Resolver& resolver, const std::string& host,
                                      std::string& why) {
  std::vector<std::string> out;
  for (RrType type : {RrType::a, RrType::aaaa}) {
    auto a = resolver.query(host, type);
    if (!a) {
      why = a.error().message;
      continue;
    }
    if (!a->bogus.empty()) {
      why = fmt::format("{}: DNSSEC validation failed ({})", host, a->bogus);
      continue;
    }
    for (const auto& r : a->rdata)
      if (auto text = address_rdata(r); !text.empty()) out.push_back(text);
  }
  return out;
}

}  // namespace

Result<std::vector<MailExchanger>> mail_exchangers(Resolver& resolver, std::string_view domain) {
  auto answer = resolver.query(domain, RrType::mx);
  if (!answer) return std::unexpected(answer.error());
  if (!answer->bogus.empty())
    return fail(Errc::unavailable,
                fmt::format("MX of {}: DNSSEC validation failed ({})", domain, answer->bogus));
  if (answer->nxdomain) return fail(Errc::not_found, fmt::format("no domain {}", domain));
  std::vector<MxRecord> mx;
  for (const auto& r : answer->rdata)
    if (auto m = mx_rdata(r)) mx.push_back(*m);
  if (mx.size() == 1 && mx.front().exchange.empty())
    return fail(Errc::denied, fmt::format("{} accepts no mail (null MX, RFC 7505)", domain));
  std::erase_if(mx, [](const MxRecord& m) { return m.exchange.empty(); });
  if (answer->rdata.empty()) mx.push_back({0, std::string(domain)});  // the implicit MX
  thread_local std::minstd_rand random{std::random_device{}()};
  std::shuffle(mx.begin(), mx.end(), random);
  std::stable_sort(mx.begin(), mx.end(), [](const MxRecord& a, const MxRecord& b) {
    return a.preference < b.preference;
  });
  if (mx.size() > kMaxExchangers) mx.resize(kMaxExchangers);
  std::vector<MailExchanger> out;
  std::string why;
  for (const auto& m : mx)
    for (auto& address : addresses_of(resolver, m.exchange, why))
      if (out.size() < kMaxAddresses &&
          std::none_of(out.begin(), out.end(),
                       [&](const MailExchanger& e) { return e.address == address; }))
        out.push_back({std::move(address), m.exchange, answer->secure});
  if (out.empty() && !why.empty())
    return fail(Errc::unavailable, fmt::format("no address for {}'s mail: {}", domain, why));
  if (out.empty())
    return fail(Errc::not_found, fmt::format("no mail exchanger of {} has an address", domain));
  return out;
}

Result<std::vector<std::string>> dane_tlsa(Resolver& resolver, std::string_view name,
                                           std::uint16_t port) {
  const std::string owner = fmt::format("_{}._tcp.{}", port, name);
  auto answer = resolver.query(owner, RrType::tlsa);
  if (!answer) return std::unexpected(answer.error());
  if (!answer->bogus.empty())
    return fail(Errc::unavailable,
                fmt::format("TLSA {}: DNSSEC validation failed ({})", owner, answer->bogus));
  if (!answer->secure) return std::vector<std::string>{};
  return answer->rdata;
}

}  // namespace seegw::dns
