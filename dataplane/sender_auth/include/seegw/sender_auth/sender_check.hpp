// Inbound sender authentication for Secure Government Email: SPF (ours, spf.hpp), DKIM
// verification (libopendkim), DMARC (libopendmarc: record parsing, alignment, p=/sp=), every DNS
// question through the gateway's validating resolver, none through the system's. What it
// trusts: nothing in the message or the sender's DNS; a DNS failure is a temperror, and a DMARC
// failure that a temperror may have caused is deferred (451), never rejected or delivered as
// if it had passed. Blocking: called on threads that may wait, never on an I/O loop.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "seegw/common/error.hpp"
#include "seegw/dns/resolver.hpp"
#include "seegw/sender_auth/verdict.hpp"

namespace seegw::sender_auth {

struct CheckSettings {
  // The public suffix list for DMARC's organizational domains (Debian's `publicsuffix`); it must
  // be there (create() says so).
  std::filesystem::path public_suffix_list = "/usr/share/publicsuffix/public_suffix_list.dat";
  // All DNS of one message's checks; past it, what is left is a temperror.
  std::chrono::milliseconds time_limit{20000};
  // SEEMail members' S/MIME mail is judged by its signature in the SEEMail stage (IN-*), not by
  // DMARC: for the messages this says yes to, a DMARC failure is recorded, not enforced.
  std::function<bool(const std::string& from_domain, std::string_view message)> judged_by_smime =
      [](const std::string&, std::string_view) { return false; };
};

struct MessageFacts {
  std::string client_address;
  std::string helo;
  std::string mail_from;  // empty: the null reverse-path
};

class SenderCheck {
 public:
  static Result<std::unique_ptr<SenderCheck>> create(dns::Resolver& resolver,
                                                     CheckSettings settings);
  ~SenderCheck();
  SenderCheck(const SenderCheck&) = delete;
  SenderCheck& operator=(const SenderCheck&) = delete;

  // Thread-safe. `message` is the content as received (CRLF line ends).
  Verdict check(const MessageFacts& facts, std::string_view message);

 private:
  SenderCheck() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace seegw::sender_auth
