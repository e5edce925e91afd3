// PDF through poppler (Debian's libpoppler-cpp): page text with ToUnicode maps, TJ arrays and
// kerning resolved by the library, plus the document information. Encrypted PDFs that need a
// password are uninspectable.
#include <fmt/format.h>
#include <poppler/cpp/poppler-document.h>
#include <poppler/cpp/poppler-global.h>
#include <poppler/cpp/poppler-page.h>

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
