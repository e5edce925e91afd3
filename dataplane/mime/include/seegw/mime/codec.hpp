// Content transfer decodings and charset conversion, tolerant of the breakage real mail has:
// they never fail, they decode what can be decoded (RFC 2045 §6, RFC 2047, RFC 2231).
#pragma once

#include <string>
#include <string_view>

#include "seegw/common/text.hpp"

namespace seegw::mime {

// Base64, skipping anything outside the alphabet (line breaks, spaces, junk); '=' ends a quantum
// and decoding goes on after it, as GNU base64 -d and mail clients do.
std::string decode_base64(std::string_view text);
// Base64 in lines of `line_length` characters ended by CRLF (RFC 2045 §6.8: at most 76).
std::string encode_base64(std::string_view bytes, std::size_t line_length = 76);
// The same, appended to `out` in one pass (the outgoing message is built without a copy of it).
void append_base64(std::string& out, std::string_view bytes, std::size_t line_length = 76);
// Base64 on one line with no line end: a value inside a line protocol (the admin socket).
std::string encode_base64_line(std::string_view bytes);
// Quoted-printable: soft line breaks removed, =XX decoded, broken escapes kept literally.
std::string decode_quoted_printable(std::string_view text);
// Text in `charset` to UTF-8 with glibc iconv (any charset it knows, UTF-16 included). Unknown
// charsets and invalid sequences are passed through byte by byte: scanning over-reads, never skips.
std::string to_utf8(std::string_view bytes, std::string_view charset);
// Decodes RFC 2047 encoded words in a header value to UTF-8; whitespace between adjacent encoded
// words is dropped (RFC 2047 §6.2), so a trigger split across two words is still one string.
std::string decode_header_words(std::string_view value);
// RFC 2231 extended parameter value "charset'lang'%XX..." to UTF-8.
std::string decode_rfc2231(std::string_view value);

using seegw::ascii_lower;

}  // namespace seegw::mime
