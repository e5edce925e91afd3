// RFC 5322 / MIME (RFC 2045-2049) structure of a message: headers unfolded, multiparts split
// to any depth within limits, bodies left as views into the raw bytes and decoded on demand.
// It trusts nothing: structural errors are reported in `problems`, never thrown.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace seegw::mime {

struct Header {
  std::string name;   // as written
  std::string value;  // unfolded (line breaks before white space removed), not 2047-decoded
};

struct Part {
  std::string path;  // "1", "1.2", ... ("" for a single-part message body)
  std::vector<Header> headers;
  std::string media_type;  // lower case, e.g. "text/plain"; "text/plain" when absent
  std::map<std::string, std::string> params;  // lower-case names; RFC 2231/2047 decoded values
  std::string transfer_encoding;              // lower case
  std::string filename;  // Content-Disposition filename or Content-Type name, decoded
  std::string_view raw_body;
  std::vector<Part> children;
  bool truncated = false;  // a limit stopped the split of this multipart

  // The body after Content-Transfer-Encoding (base64, quoted-printable) is undone.
  std::string decoded_body() const;
  const std::string* header(std::string_view name) const;  // first, case-insensitive
  std::string param(std::string_view name) const;
  bool is_multipart() const { return media_type.starts_with("multipart/"); }
};

struct ParseLimits {
  std::size_t max_depth = 32;
  std::size_t max_parts = 5000;
};

struct Message {
  Part root;  // the message's own headers and body
  std::vector<std::string> problems;
};

Message parse(std::string_view raw, const ParseLimits& limits = {});

// Splits "header block" from body; the offset where the body starts.
std::size_t body_offset(std::string_view raw);

}  // namespace seegw::mime
