#include "checks.hpp"

#include "seegw/dns/records.hpp"

namespace seegw::sender_auth::detail {

SpfAnswer ResolverDns::ask(const std::string& name, dns::RrType type) {
  SpfAnswer out;
  if (!in_time()) {
    out.status = SpfAnswer::Status::error;
    return out;
  }
  auto a = resolver_.query(name, type);
  if (!a || !a->bogus.empty()) {  // no answer, or one that failed DNSSEC validation
    out.status = SpfAnswer::Status::error;
    return out;
  }
  out.status = a->nxdomain ? SpfAnswer::Status::nxdomain
               : a->exists ? SpfAnswer::Status::found
                           : SpfAnswer::Status::no_data;
  out.values = std::move(a->rdata);
  return out;
}

SpfAnswer ResolverDns::txt(const std::string& name) {
  auto a = ask(name, dns::RrType::txt);
  for (auto& v : a.values) v = dns::txt_rdata_text(v);
  return a;
}

SpfAnswer ResolverDns::addresses(const std::string& name, bool ipv6) {
  return ask(name, ipv6 ? dns::RrType::aaaa : dns::RrType::a);
}

SpfAnswer ResolverDns::mx(const std::string& name) {
  auto a = ask(name, dns::RrType::mx);
  std::vector<std::string> names;
  for (const auto& v : a.values)
    if (auto mx = dns::mx_rdata(v); mx && !mx->exchange.empty()) names.push_back(mx->exchange);
  a.values = std::move(names);
  return a;
}

SpfAnswer ResolverDns::ptr(const std::string& name) {
  auto a = ask(name, dns::RrType::ptr);
  std::vector<std::string> names;
  for (const auto& v : a.values)
    if (auto n = dns::name_rdata(v)) names.push_back(*n);
  a.values = std::move(names);
  return a;
}

}  // namespace seegw::sender_auth::detail
