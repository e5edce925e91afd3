// One spooled message: its envelope, delivery bookkeeping and the message bytes, in one file
// ("SEEGW-SPOOL/1" header lines, a blank line, then exactly `size` bytes of message).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"
#include "seegw/smtp/envelope.hpp"
#include "seegw/spool/queue_id.hpp"

namespace seegw::spool {

// Spool times are whole seconds since the epoch (arrival, next attempt).
inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct PendingRecipient {
  std::string address;
  std::string last_error;  // empty until a delivery attempt failed
};

struct SpoolRecord {
  QueueId id;
  std::int64_t arrival = 0;       // unix seconds
  std::int64_t next_attempt = 0;  // unix seconds; 0 = now
  std::uint32_t attempts = 0;
  bool delay_notified = false;
  std::string reason;  // why it is held / deferred, for people
  // Held only until its recipients' domains have a usable domain certificate (OUT-5, §2.8): a
  // new snapshot or a learnt certificate releases it by itself.
  bool awaits_certificate = false;
  // Built and secured by the gateway itself (a signed certificate request, an answer encrypted to
  // the requester's certificate): the outbound stage sends it as it is. Only the gateway writes
  // spool files, and nothing a client sends can set this.
  bool secured_by_gateway = false;
  // Accepted, but the sender's domain asked for its failing mail to be quarantined (DMARC
  // p=quarantine): it goes to the hold queue on arrival, `reason` says why, and only an
  // administrator's release sends it on.
  bool quarantined = false;
  smtp::Envelope envelope;  // rcpt_to is not used here: see recipients
  std::vector<PendingRecipient> recipients;
  std::shared_ptr<const std::string> content;
};

// The header part of the file (everything but the message bytes).
std::string encode_header(const SpoolRecord& record);
// Parses a whole file; Errc::corrupt with the reason when any check fails.
Result<SpoolRecord> decode(std::string_view file_bytes);

}  // namespace seegw::spool
