// The data plane's admin socket, defined once for both sides: the rows its table verbs answer
// with (held, queue, log, certificates, key list), each a type with its cells in one order. The
// data plane encodes, seegw-control (and `seegw`) decode; a malformed answer is an error that
// names its line, never a wrong column.
//
// An answer with rows is "ok seegw-admin/1" on its first line, then one row a line, cells
// separated by tabs (a tab or line end inside a value is written as a space). Any other first
// line is another protocol version, and is refused as such.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"

namespace seegw::admin {

inline constexpr std::string_view kRowsHeader = "ok seegw-admin/1";

struct HeldRow {  // `held`: the hold queue (OUT-8)
  std::string id;
  std::int64_t arrival = 0;  // unix seconds
  std::string sender;        // the envelope sender, "" for the null reverse-path
  std::vector<std::string> recipients;
  std::string reason;
};

struct QueueRow {  // `queue`: messages waiting for delivery
  std::string id;
  std::string state;  // active or deferred
  std::int64_t arrival = 0;
  std::int64_t next_attempt = 0;  // 0: not scheduled (active)
  std::string sender;
  std::vector<std::string> recipients;
  std::string last_error;
};

struct LogRow {  // `log AFTER`: the events after a sequence number
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;
  std::string level;
  std::string program;
  std::string text;
};

struct CertificateRow {  // `certificates`: the peer certificates the data plane holds
  std::string domain;
  std::string source;  // snapshot, learnt or pending
  std::string state;
  std::string subject;
  std::string not_after;  // YYYY-MM-DD
};

struct KeyRow {  // `key list`: the HSM's key pairs
  std::string label;
  std::string type;
  std::string use;         // "in use" or "-"
  std::string protection;  // "cannot leave the token" or "EXTRACTABLE"
};

// One row, with its line end.
std::string encode(const HeldRow& row);
std::string encode(const QueueRow& row);
std::string encode(const LogRow& row);
std::string encode(const CertificateRow& row);
std::string encode(const KeyRow& row);

// The rows of a whole answer; Errc::protocol for another header or a malformed line.
Result<std::vector<HeldRow>> decode_held(std::string_view answer);
Result<std::vector<QueueRow>> decode_queue(std::string_view answer);
Result<std::vector<LogRow>> decode_log(std::string_view answer);
Result<std::vector<CertificateRow>> decode_certificates(std::string_view answer);
Result<std::vector<KeyRow>> decode_keys(std::string_view answer);

}  // namespace seegw::admin
