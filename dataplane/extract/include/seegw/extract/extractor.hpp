// Logical text out of everything a message carries: MIME parts, Office documents (OOXML, ODF,
// legacy OLE2 Word/Excel/PowerPoint/Publisher), PDF, RTF, HTML, archives, TNEF, nested messages.
// Input is hostile: every format is parsed with bounds checks and limits; anything that cannot be
// read completely is reported as uninspectable with the reason (TRG-4), never silently skipped.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace seegw::extract {

// Receives the text units and the places that could not be inspected.
class ContentSink {
 public:
  virtual ~ContentSink() = default;
  // `where` names the place (e.g. "attachment 'a.docx' (part 2) > word/document.xml");
  // `utf8` is the logical text: decoded, converted, markup removed, runs joined.
  virtual void text(const std::string& where, std::string_view utf8) = 0;
  virtual void uninspectable(const std::string& where, std::string_view reason) = 0;
  // A structural error that did not stop inspection (reported, not fatal).
  virtual void problem(const std::string& /*where*/, std::string_view /*what*/) {}
};

// The reason given for an individual's encrypted S/MIME entity (application/pkcs7-mime
// enveloped-data): policy tells it apart from other uninspectable content (§1.2, TRG-4).
inline constexpr std::string_view kEncryptedSmimeReason =
    "S/MIME encrypted content (application/pkcs7-mime)";

struct Limits {
  std::size_t max_depth = 12;                    // containers inside containers
  std::size_t max_entries = 10000;               // archive entries and MIME parts in all
  std::size_t max_expanded_bytes = 512u << 20;   // decompressed bytes per message
  std::size_t max_ratio = 1000;                  // expanded ÷ compressed for an archive
  std::chrono::milliseconds time_budget{20000};  // per message
  // Memory (issue 15 item 6): decompressed data one message may hold at once — an archive entry
  // and the entries around it — and all messages inspected at once together (the process's
  // budget: a message waits, within its time budget, for others to give memory back).
  std::size_t max_held_bytes = 64u << 20;
  std::size_t max_total_held_bytes = 256u << 20;
};

// Decompressed bytes held by every inspection running now (for tests and the log).
std::size_t bytes_held_now();

// Walks an RFC 5322 message (headers, every MIME part, every attachment, recursively).
void extract_message(std::string_view raw, ContentSink& sink, const Limits& limits = {});
// Walks one file (an attachment or a document given on its own).
void extract_file(std::string_view bytes, std::string_view name, ContentSink& sink,
                  const Limits& limits = {});

}  // namespace seegw::extract
