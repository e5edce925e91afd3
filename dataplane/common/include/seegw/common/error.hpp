// The error type of the data path: a domain code and a sentence a person can act on.
// No exceptions cross the poll loop or a TBB task; functions that can fail return Result<T>.
#pragma once

#include <expected>
#include <string>

namespace seegw {

enum class Errc {
  io,           // a syscall failed (errno is in the message)
  parse,        // input did not follow its grammar
  limit,        // input exceeded a configured limit
  protocol,     // a peer broke the protocol
  tls,          // OpenSSL reported an error
  config,       // configuration is invalid
  corrupt,      // stored data failed its own checks
  unavailable,  // a dependency is down; try again later (fail closed)
  not_found,    // the thing asked for does not exist (e.g. a queue ID)
  denied,       // the caller may not do this (its role, or its credentials)
};

struct Error {
  Errc code;
  std::string message;
};

template <class T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Errc code, std::string message) {
  return std::unexpected(Error{code, std::move(message)});
}

// "open spool/incoming: No such file or directory" from the current errno.
std::unexpected<Error> fail_errno(std::string_view what);

}  // namespace seegw
