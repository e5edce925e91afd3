// The one HTTP client of the revocation module (CRL downloads, OCSP queries): libcurl with a time
// limit, a size limit and no redirects.
#pragma once

#include <chrono>
#include <string>

#include "seegw/common/error.hpp"

namespace seegw::revocation::detail {

// GET, or POST `post_body` as `content_type` when it is given.
Result<std::string> http_transfer(const std::string& uri, std::chrono::seconds timeout,
                                  std::size_t max_bytes, const std::string* post_body,
                                  const char* content_type);

}  // namespace seegw::revocation::detail
