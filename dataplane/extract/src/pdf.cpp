// PDF through poppler (Debian's libpoppler-cpp): page text with ToUnicode maps, TJ arrays and
// kerning resolved by the library, plus the document information. Encrypted PDFs that need a
// password are uninspectable. TRG-5: what people type outside the page text — annotations
// (comments, sticky notes) and form-field values — is read from the file's own strings, in its
// objects and (Flate) object streams, since poppler's C++ interface does not reach them.
#include <fmt/format.h>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

#include <zlib.h>

#include <memory>
#include <mutex>

#include "context.hpp"

namespace seegw::extract {
namespace {

void quiet(const std::string&, void*) {}  // poppler's complaints about broken files are not ours

std::string utf8_of(const poppler::ustring& u) {
  auto bytes = u.to_utf8();
  return std::string(bytes.begin(), bytes.end());
}

// A FlateDecode stream inflated, at most `limit` bytes ("" when it is not zlib data).
std::string inflate(std::string_view in, std::size_t limit) {
  z_stream z{};
  if (inflateInit(&z) != Z_OK) return "";
  std::string out;
  char buf[16384];
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  z.avail_in = static_cast<uInt>(in.size());
  int rc = Z_OK;
  while (rc == Z_OK && out.size() < limit) {
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    out.append(buf, sizeof buf - z.avail_out);
  }
  inflateEnd(&z);
  return out;
}

// A PDF string's bytes as UTF-8: UTF-16BE when it has the byte order mark, else as it is.
void append_pdf_string(std::string& out, const std::string& s) {
  if (s.size() >= 2 && static_cast<unsigned char>(s[0]) == 0xFE &&
      static_cast<unsigned char>(s[1]) == 0xFF) {
    for (std::size_t i = 2; i + 1 < s.size(); i += 2)
      append_utf8(out,
                  static_cast<unsigned char>(s[i]) << 8 | static_cast<unsigned char>(s[i + 1]));
  } else {
    out += s;
  }
  out.push_back('\n');
}

// Every literal "(...)" and hex "<...>" string of a chunk of PDF object syntax (ISO 32000 §7.3.4).
void pdf_strings(std::string_view s, std::string& out) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%') {  // a comment runs to the end of the line
      while (i < s.size() && s[i] != '\n' && s[i] != '\r') ++i;
    } else if (s[i] == '(') {
      std::string v;
      int depth = 1;
      for (++i; i < s.size() && depth > 0; ++i) {
        char c = s[i];
        if (c == '\\' && i + 1 < s.size()) {
          const char e = s[++i];
          if (e >= '0' && e <= '7') {
            int n = e - '0';
            for (int k = 0; k < 2 && i + 1 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7'; ++k)
              n = n * 8 + (s[++i] - '0');
            v.push_back(static_cast<char>(n));
          } else {
            v.push_back(e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : e);
          }
          continue;
        }
        if (c == '(') ++depth;
        if (c == ')' && --depth == 0) break;
        v.push_back(c);
      }
      append_pdf_string(out, v);
    } else if (s[i] == '<' && i + 1 < s.size() && s[i + 1] != '<') {
      std::string v;
      int hi = -1;
      for (++i; i < s.size() && s[i] != '>'; ++i) {
        const char c = s[i];
        const int d = c >= '0' && c <= '9'   ? c - '0'
                      : c >= 'a' && c <= 'f' ? c - 'a' + 10
                      : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                             : -1;
        if (d < 0) continue;
        if (hi < 0) {
          hi = d;
        } else {
          v.push_back(static_cast<char>(hi << 4 | d));
          hi = -1;
        }
      }
      append_pdf_string(out, v);
    } else if (s[i] == '<') {
      ++i;  // "<<" opens a dictionary
    }
  }
}

// The strings of the whole file: its objects, and its Flate streams inflated (object streams
// hold the annotation and form dictionaries of most modern files).
std::string file_strings(std::string_view pdf, std::size_t limit) {
  std::string out;
  std::size_t pos = 0;
  while (pos < pdf.size() && out.size() < limit) {
    std::size_t start = pdf.find("stream", pos);
    if (start == std::string_view::npos || start + 6 >= pdf.size()) {
      pdf_strings(pdf.substr(pos), out);
      break;
    }
    if (start >= 3 && pdf.substr(start - 3, 3) == "end") {  // "endstream" of a stream we skipped
      pos = start + 6;
      continue;
    }
    const std::string_view before = pdf.substr(pos, start - pos);
    pdf_strings(before, out);
    std::size_t data = start + 6;
    if (data < pdf.size() && pdf[data] == '\r') ++data;
    if (data < pdf.size() && pdf[data] == '\n') ++data;
    const std::size_t end = pdf.find("endstream", data);
    if (end == std::string_view::npos) break;
    const std::string_view dict = before.substr(before.size() > 512 ? before.size() - 512 : 0);
    if (out.size() >= limit) break;
    if (dict.find("/FlateDecode") != std::string_view::npos &&
        dict.find("/Subtype/Image") == std::string_view::npos &&
        dict.find("/Subtype /Image") == std::string_view::npos)
      pdf_strings(inflate(pdf.substr(data, end - data), limit - out.size()), out);
    pos = end + 9;
  }
  return out;
}

}  // namespace

void extract_pdf(Context& ctx, std::string_view bytes, const std::string& where) {
  static std::once_flag once;
  std::call_once(once, [] { poppler::set_debug_error_function(quiet, nullptr); });
  std::vector<char> data(bytes.begin(), bytes.end());
  std::unique_ptr<poppler::document> doc(poppler::document::load_from_data(&data));
  if (!doc) {
    ctx.uninspectable(where, "unreadable or password-protected PDF");
    return;
  }
  if (doc->is_locked()) {
    ctx.uninspectable(where, "password-protected (encrypted) PDF");
    return;
  }
  std::string info;
  for (const char* key : {"Title", "Subject", "Keywords", "Author"}) {
    info += utf8_of(doc->info_key(key));
    info.push_back('\n');
  }
  ctx.text(where + " > document information", info);
  // Annotations and form values; strings of an encrypted file are ciphertext to this reader.
  if (!doc->is_encrypted()) {
    const std::size_t budget = ctx.limits.max_expanded_bytes > ctx.expanded
                                   ? ctx.limits.max_expanded_bytes - ctx.expanded
                                   : 0;
    std::string strings = file_strings(bytes, std::min<std::size_t>(budget, 64u << 20));
    ctx.expanded += strings.size();
    ctx.text(where + " > annotations, form fields and other strings", strings);
  }
  const int pages = doc->pages();
  for (int i = 0; i < pages && !ctx.stopped; ++i) {
    const std::string here = fmt::format("{} > page {}", where, i + 1);
    if (!ctx.check(here)) return;
    std::unique_ptr<poppler::page> page(doc->create_page(i));
    if (!page) {
      ctx.uninspectable(here, "unreadable PDF page");
      continue;
    }
    std::string text = utf8_of(page->text());
    ctx.expanded += text.size();
    ctx.text(here, text);
  }
}

}  // namespace seegw::extract
