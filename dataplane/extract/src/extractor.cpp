#include <fmt/format.h>

#include <condition_variable>
#include <cstring>
#include <mutex>

#include "context.hpp"
#include "seegw/mime/codec.hpp"
#include "seegw/mime/message.hpp"

namespace seegw::extract {
namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool ends_with_ci(std::string_view name, std::string_view ext) {
  return name.size() >= ext.size() &&
         mime::ascii_lower(name.substr(name.size() - ext.size())) == ext;
}

std::string text_from_bytes(std::string_view bytes, std::string_view charset) {
  if (starts_with(bytes, "\xFF\xFE")) return utf16le_to_utf8(bytes.substr(2));
  if (starts_with(bytes, "\xFE\xFF")) return mime::to_utf8(bytes.substr(2), "UTF-16BE");
  if (starts_with(bytes, "\xEF\xBB\xBF")) return std::string(bytes.substr(3));
  return mime::to_utf8(bytes, charset);
}

// Text in its charset to the sink, without a copy when it is already UTF-8 (the common case).
void emit_text(Context& ctx, const std::string& where, std::string_view bytes,
               std::string_view charset) {
  const std::string cs = mime::ascii_lower(charset);
  const bool bom = starts_with(bytes, "\xFF\xFE") || starts_with(bytes, "\xFE\xFF") ||
                   starts_with(bytes, "\xEF\xBB\xBF");
  if (!bom && (cs.empty() || cs == "utf-8" || cs == "us-ascii" || cs == "utf8"))
    ctx.text(where, bytes);
  else
    ctx.text(where, text_from_bytes(bytes, charset));
}

void extract_part(Context& ctx, const mime::Part& part, const std::string& where);

// TRG-5: every header field's value is scanned, not a list of the usual ones: a client or a
// person can put text in any field (Thread-Topic, Keywords, X-anything), and over-reading a
// structural field costs nothing.
void extract_headers(Context& ctx, const mime::Part& part, const std::string& where) {
  for (const auto& h : part.headers) {
    // A trigger has brackets (TRG-1): a field with none, encoded words aside, cannot hold one,
    // and most (Received, DKIM-Signature, Message-ID) have none. Skipping them spares a matcher
    // call per field; the result is the same.
    if (h.value.find_first_of("[]{}") == std::string::npos &&
        h.value.find("=?") == std::string::npos)
      continue;
    ctx.text(where.empty() ? h.name : where + " > " + h.name, mime::decode_header_words(h.value));
  }
}

// A transfer-encoded body with content that decodes to no bytes at all hides whatever it holds
// from the scanner (a reader's client may still show something): not clean, uninspectable.
bool decodes_to_nothing(const mime::Part& part, std::string_view decoded) {
  if (!decoded.empty() || part.transfer_encoding.empty() || part.transfer_encoding == "7bit" ||
      part.transfer_encoding == "8bit" || part.transfer_encoding == "binary")
    return false;
  return part.raw_body.find_first_not_of(" \t\r\n") != std::string_view::npos;
}

std::string part_label(const mime::Part& part) {
  return part.path.empty() ? std::string("body") : fmt::format("part {}", part.path);
}

void extract_part(Context& ctx, const mime::Part& part, const std::string& prefix) {
  if (ctx.stopped) return;
  const std::string label = part_label(part);
  const std::string where = prefix.empty() ? label : prefix + " > " + label;
  if (!ctx.check(where)) return;
  if (part.is_multipart()) {
    if (part.truncated) ctx.uninspectable(where, "MIME structure deeper or larger than the limits");
    if (part.media_type == "multipart/encrypted")
      ctx.uninspectable(where, "encrypted content (multipart/encrypted, e.g. PGP/MIME)");
    for (const auto& child : part.children) extract_part(ctx, child, prefix);
    return;
  }
  if (!part.path.empty()) extract_headers(ctx, part, where);
  std::string body = part.decoded_body();
  Held body_held(ctx, where);
  if (!body_held.grow(body.size())) return;
  ctx.expanded += body.size();
  if (decodes_to_nothing(part, body))
    ctx.uninspectable(where,
                      fmt::format("a {} body that decodes to nothing", part.transfer_encoding));
  std::string name = part.filename;
  std::string described = name.empty() ? fmt::format("{} ({})", where, part.media_type)
                                       : fmt::format("attachment '{}' ({})", name, label);
  if (!prefix.empty() && !name.empty()) described = prefix + " > " + described;
  if (!name.empty()) ctx.text(described + " > file name", name);
  if (part.media_type == "message/rfc822" || part.media_type == "message/global") {
    ++ctx.depth;
    extract_mime_message(ctx, body, described);
    --ctx.depth;
    return;
  }
  if (part.media_type == "application/pkcs7-mime" ||
      part.media_type == "application/x-pkcs7-mime") {
    std::string smime = mime::ascii_lower(part.param("smime-type"));
    if (smime == "signed-data") {
      extract_signed_data(ctx, body, described);
      return;
    }
    if (smime != "certs-only") {
      ctx.uninspectable(described, kEncryptedSmimeReason);
      return;
    }
  }
  if (part.media_type == "application/pgp-encrypted" ||
      body.find("-----BEGIN PGP MESSAGE-----") != std::string::npos) {
    ctx.uninspectable(described, "PGP encrypted content");
  }
  if (part.media_type.starts_with("text/") && name.empty()) {
    std::string text = text_from_bytes(body, part.param("charset"));
    if (part.media_type == "text/html")
      text = html_text(text);
    else if (part.media_type == "text/rtf" || part.media_type == "text/enriched")
      text = rtf_text(text);
    else if (part.media_type == "text/calendar")
      text = calendar_text(text);
    ctx.text(described, text);
    return;
  }
  extract_content(ctx, body, name, part.media_type, described);
}

}  // namespace

namespace {
// The process's inspection memory, shared by every message on the pool.
std::mutex g_held_mutex;
std::condition_variable g_held_freed;
std::size_t g_held = 0;
}  // namespace

std::size_t bytes_held_now() {
  std::lock_guard lock(g_held_mutex);
  return g_held;
}

bool Held::grow(std::size_t bytes) {
  if (ctx_.stopped) return false;
  const auto& l = ctx_.limits;
  std::string reason;
  if (ctx_.held + bytes > l.max_held_bytes) {
    reason = fmt::format("more than {} bytes held in memory at once", l.max_held_bytes);
  } else {
    std::unique_lock lock(g_held_mutex);
    const bool fits =
        bytes <= l.max_total_held_bytes && g_held_freed.wait_until(lock, ctx_.deadline, [&] {
          return g_held + bytes <= l.max_total_held_bytes;
        });
    if (fits) {
      g_held += bytes;
      ctx_.held += bytes;
      bytes_ += bytes;
      return true;
    }
    reason =
        fmt::format("the gateway's inspection memory ({} bytes) stayed in use by other messages",
                    l.max_total_held_bytes);
  }
  ctx_.stopped = true;
  ctx_.uninspectable(where_, "limit: " + reason);
  return false;
}

Held::~Held() {
  if (bytes_ == 0) return;
  {
    std::lock_guard lock(g_held_mutex);
    g_held -= bytes_;
  }
  ctx_.held -= bytes_;
  g_held_freed.notify_all();
}

bool Context::check(const std::string& where) {
  if (stopped) return false;
  std::string reason;
  if (++entries > limits.max_entries)
    reason = fmt::format("more than {} parts and archive entries", limits.max_entries);
  else if (expanded > limits.max_expanded_bytes)
    reason = fmt::format("more than {} bytes after decompression", limits.max_expanded_bytes);
  else if (std::chrono::steady_clock::now() > deadline)
    reason = fmt::format("inspection took longer than {} ms", limits.time_budget.count());
  else if (depth > limits.max_depth)
    reason = fmt::format("nested deeper than {} containers", limits.max_depth);
  if (reason.empty()) return true;
  // Depth is local to one branch; the others stop everything that follows.
  if (depth <= limits.max_depth) stopped = true;
  uninspectable(where, "limit: " + reason);
  return false;
}

void extract_mime_message(Context& ctx, std::string_view raw, const std::string& where) {
  if (!ctx.check(where.empty() ? "message" : where)) return;
  mime::Message m = mime::parse(raw);
  for (const auto& p : m.problems) ctx.sink.problem(where.empty() ? "message" : where, p);
  extract_headers(ctx, m.root, where);
  extract_part(ctx, m.root, where);
}

void extract_content(Context& ctx, std::string_view bytes, std::string_view name,
                     std::string_view media_type, const std::string& where) {
  if (ctx.stopped || bytes.empty()) return;
  ++ctx.depth;
  if (ctx.depth > ctx.limits.max_depth) {
    ctx.uninspectable(where,
                      fmt::format("limit: nested deeper than {} containers", ctx.limits.max_depth));
    --ctx.depth;
    return;
  }
  if (starts_with(bytes, "PK\x03\x04") || starts_with(bytes, "PK\x05\x06") ||
      starts_with(bytes, "7z\xBC\xAF\x27\x1C") || starts_with(bytes, "\x1F\x8B") ||
      starts_with(bytes, "Rar!") || (bytes.size() > 262 && bytes.substr(257, 5) == "ustar")) {
    extract_archive(ctx, bytes, where);
  } else if (starts_with(bytes, "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")) {
    extract_ole2(ctx, bytes, where);
  } else if (starts_with(bytes, "%PDF-") ||
             (bytes.size() > 8 && bytes.substr(0, 1024).find("%PDF-") != std::string_view::npos)) {
    extract_pdf(ctx, bytes, where);
  } else if (starts_with(bytes, "{\\rtf")) {
    ctx.text(where, rtf_text(bytes));
  } else if (starts_with(bytes, "\x78\x9F\x3E\x22")) {
    extract_tnef(ctx, bytes, where);
  } else if (ends_with_ci(name, ".eml") || media_type == "message/rfc822") {
    extract_mime_message(ctx, bytes, where);
  } else if (ends_with_ci(name, ".htm") || ends_with_ci(name, ".html") ||
             media_type == "text/html") {
    ctx.text(where, html_text(text_from_bytes(bytes, "")));
  } else if (ends_with_ci(name, ".ics") || media_type == "text/calendar") {
    ctx.text(where, calendar_text(text_from_bytes(bytes, "")));
  } else if (ends_with_ci(name, ".p7m") || media_type == "application/pkcs7-mime" ||
             media_type == "application/x-pkcs7-mime") {
    extract_signed_data(ctx, bytes, where);
  } else if (ends_with_ci(name, ".xml") || media_type.ends_with("+xml") ||
             media_type == "text/xml") {
    ctx.text(where, xml_text(text_from_bytes(bytes, "")));
  } else if (bytes.find("-----BEGIN PGP MESSAGE-----") != std::string_view::npos) {
    ctx.uninspectable(where, "PGP encrypted content");
  } else if (media_type.starts_with("text/") || ends_with_ci(name, ".txt") ||
             ends_with_ci(name, ".csv")) {
    emit_text(ctx, where, bytes, "");
  } else {
    // A format we do not know: its bytes as text (8-bit and UTF-16) so that a trigger in any
    // readable form is still seen. Over-reading is safe; skipping is not.
    ctx.text(where, text_from_bytes(bytes, ""));
    if (!starts_with(bytes, "\xFF\xFE") && !starts_with(bytes, "\xFE\xFF")) {
      std::string wide = utf16le_runs(bytes);
      if (!wide.empty()) ctx.text(where + " (UTF-16 text)", wide);
    }
  }
  --ctx.depth;
}

void extract_message(std::string_view raw, ContentSink& sink, const Limits& limits) {
  Context ctx{sink, limits, std::chrono::steady_clock::now() + limits.time_budget};
  extract_mime_message(ctx, raw, "");
}

void extract_file(std::string_view bytes, std::string_view name, ContentSink& sink,
                  const Limits& limits) {
  Context ctx{sink, limits, std::chrono::steady_clock::now() + limits.time_budget};
  extract_content(ctx, bytes, name, "", std::string(name));
}

}  // namespace seegw::extract
