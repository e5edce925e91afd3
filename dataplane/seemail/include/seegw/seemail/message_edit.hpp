// Small, careful edits of RFC 5322 messages the gateway itself makes: read a header, add or
// remove header fields, wrap a message so a warning is the first thing its reader sees, and
// compose the gateway's own messages (notices, ping and certificate-request answers).
#pragma once

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/mime/header_fields.hpp"

namespace seegw::seemail {

// Reading and removing fields is mime's header toolkit, the one every module uses.
using mime::first_address;
using mime::header_value;
using mime::remove_headers;

// Header fields ("Name: value\r\n" each) added at the top of the header section.
std::string prepend_headers(std::string_view message, std::string_view fields);
// The Subject with `tag` in front (a Subject is added when there is none).
std::string tag_subject(std::string_view message, std::string_view tag);

// The message as multipart/mixed: first a text/plain part with `warning_text`, then the
// original body with its own Content-* fields, so every mail client shows the warning above the
// message and the original is kept whole. Non-content header fields stay on top. With
// `attach_original`, the second part is that message whole, as a message/rfc822 attachment
// (001's 2B: "a copy of the original email will be attached").
std::string wrap_with_warning(std::string_view message, std::string_view warning_text,
                              std::optional<std::string_view> attach_original = std::nullopt);

struct Attachment {
  std::string filename;
  std::string media_type;
  std::string bytes;
};

struct ComposedMessage {
  std::string from;  // header From (an address)
  std::string to;
  std::string subject;
  std::string text;  // UTF-8 body text, lines separated by \n
  std::vector<Attachment> attachments;
  std::vector<std::string> extra_headers;  // "Name: value" each
  std::string in_reply_to;                 // a Message-ID, or ""
  // RFC 3834: nobody auto-answers the gateway's notices and answers. A request that wants an
  // answer (a certificate request) leaves the field out ("").
  std::string auto_submitted = "auto-replied";
};
std::string compose(const ComposedMessage& m, std::string_view hostname, std::time_t now);

}  // namespace seegw::seemail
