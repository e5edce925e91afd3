// DNS for Secure Government Email through libunbound, validating DNSSEC itself: what it answers
// is `secure` only when the chain from a trust anchor checked out, `bogus` when it did not (an
// attack or a broken zone: treated as no answer). One resolver per process, thread-safe; its
// calls block, so they run on the pool or the admin thread, never on an I/O loop.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/dns/records.hpp"

namespace seegw::dns {

struct ResolverSettings {
  // "127.0.0.1@53" forwarders (a validating resolver the appliance trusts); empty: the system's
  // (/etc/resolv.conf).
  std::vector<std::string> forwarders;
  // DNSSEC trust anchors (DS or DNSKEY records, e.g. /usr/share/dns/root.key); empty: nothing is
  // `secure`.
  std::vector<std::string> trust_anchor_files;
  // A question libunbound has not answered by then is cancelled and fails (Errc::unavailable):
  // a hostile zone's slow servers hold a caller no longer than this.
  std::chrono::milliseconds query_timeout{15000};
};

enum class RrType : int { a = 1, ptr = 12, mx = 15, txt = 16, aaaa = 28, tlsa = 52 };

struct Answer {
  bool exists = false;  // NOERROR with data (NXDOMAIN and NODATA: false)
  bool nxdomain = false;
  bool secure = false;  // DNSSEC-validated
  std::string bogus;    // why validation failed ("" when it did not); the data is dropped
  std::vector<std::string> rdata;  // each record's RDATA, wire format
  std::string packet;  // the whole reply as it came (for libraries that parse replies themselves)
};

class Resolver {
 public:
  static Result<std::unique_ptr<Resolver>> create(const ResolverSettings& settings);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  // Errc::unavailable when no answer came (timeouts, SERVFAIL): try later.
  Result<Answer> query(std::string_view name, RrType type);
  // TXT records, each one's strings joined (RFC 7208 §3.3, RFC 6376 §3.6.2.2).
  Result<std::vector<std::string>> txt(std::string_view name, bool* secure = nullptr);

 private:
  Resolver() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seegw::dns
