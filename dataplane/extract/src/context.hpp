// Shared state of one extraction: the sink, the limits and what has been spent of them.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include "seegw/extract/extractor.hpp"

namespace seegw::extract {

struct Context {
  ContentSink& sink;
  const Limits& limits;
  std::chrono::steady_clock::time_point deadline;
  std::size_t depth = 0;
  std::size_t entries = 0;
  std::size_t expanded = 0;
  std::size_t held = 0;  // decompressed bytes this message holds now (see Held)
  bool stopped = false;  // a message-wide limit was hit: nothing more is read

  // False (after reporting) when a message-wide limit is exceeded.
  bool check(const std::string& where);
  void text(const std::string& where, std::string_view utf8) {
    if (!utf8.empty()) sink.text(where, utf8);
  }
  void uninspectable(const std::string& where, std::string_view reason) {
    sink.uninspectable(where, reason);
  }
};

// Dispatches on the content's magic bytes first, then on its name and media type.
// Decompressed bytes a buffer holds, counted against the message's and the process's memory
// budget while the buffer lives. grow() is false (after reporting, and stopping the message)
// when the budget cannot give that much.
class Held {
 public:
  Held(Context& ctx, std::string where) : ctx_(ctx), where_(std::move(where)) {}
  ~Held();
  Held(const Held&) = delete;
  Held& operator=(const Held&) = delete;
  bool grow(std::size_t bytes);

 private:
  Context& ctx_;
  std::string where_;
  std::size_t bytes_ = 0;
};

void extract_content(Context& ctx, std::string_view bytes, std::string_view name,
                     std::string_view media_type, const std::string& where);
void extract_mime_message(Context& ctx, std::string_view raw, const std::string& where);

// Format readers (each in its own file).
// TRG-5: the content of an opaque-signed S/MIME entity (RFC 5751 signed-data), read without
// verifying (the scanner reads; the SEEMail stage judges signatures) and walked as MIME.
void extract_signed_data(Context& ctx, std::string_view der, const std::string& where);
// RFC 5545 §3.1: content lines unfolded and text values unescaped, so a trigger folded across two
// lines of an invitation is one string.
std::string calendar_text(std::string_view ics);
void extract_archive(Context& ctx, std::string_view bytes, const std::string& where);
void extract_ole2(Context& ctx, std::string_view bytes, const std::string& where);
void extract_pdf(Context& ctx, std::string_view bytes, const std::string& where);
void extract_tnef(Context& ctx, std::string_view bytes, const std::string& where);

// Markup to text.
std::string xml_text(std::string_view xml);
std::string html_text(std::string_view html);
std::string rtf_text(std::string_view rtf);
// Text runs of a binary blob read as UTF-16LE (both byte alignments), other bytes as breaks.
std::string utf16le_runs(std::string_view bytes);
std::string utf16le_to_utf8(std::string_view bytes);
void append_utf8(std::string& out, std::uint32_t code_point);

}  // namespace seegw::extract
