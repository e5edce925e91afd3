// Delivery status notifications (RFC 3464): the bounce after the last attempt and the delay
// notice while we keep trying, as ordinary messages from postmaster with the null sender.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "seegw/smtp/client_session.hpp"
#include "seegw/spool/spool_record.hpp"

namespace seegw::relay {

struct NoticeContext {
  std::string hostname;  // Reporting-MTA
  std::string domain;    // notifications come from postmaster@domain (OPS-2)
  std::chrono::system_clock::time_point now;
  std::chrono::system_clock::time_point give_up_at;  // for delay notices
};

enum class NoticeKind { failed, delayed };

// The notice's message bytes for `original`, listing `recipients` (address + last server reply).
std::string delivery_notice(const spool::SpoolRecord& original,
                            const std::vector<smtp::RecipientResult>& recipients, NoticeKind kind,
                            const NoticeContext& context);

// "5.1.1" from "5.1.1 User unknown", else the class digit from the reply code ("5.0.0").
std::string enhanced_status(int code, std::string_view reply);

}  // namespace seegw::relay
