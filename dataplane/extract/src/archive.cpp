// Archives through libarchive (zip, 7z, tar, gzip, rar...): every entry is extracted within the
// limits and inspected recursively; XML entries (OOXML, OpenDocument) become text directly.
#include <archive.h>
#include <archive_entry.h>
#include <fmt/format.h>

#include <memory>

#include "context.hpp"
#include "seegw/mime/codec.hpp"

namespace seegw::extract {
namespace {

struct ArchiveFree {
  void operator()(archive* a) const { archive_read_free(a); }
};

bool is_xml_entry(std::string_view name) {
  std::string n = mime::ascii_lower(name);
  return n.ends_with(".xml") || n.ends_with(".rels") || n.ends_with(".vml");
}

}  // namespace

void extract_archive(Context& ctx, std::string_view bytes, const std::string& where) {
  std::unique_ptr<archive, ArchiveFree> a(archive_read_new());
  archive_read_support_format_all(a.get());
  archive_read_support_filter_all(a.get());
  archive_read_support_format_raw(a.get());  // a lone gzip stream
  if (archive_read_open_memory(a.get(), bytes.data(), bytes.size()) != ARCHIVE_OK) {
    ctx.uninspectable(where,
                      fmt::format("unreadable archive: {}", archive_error_string(a.get())
                                                                ? archive_error_string(a.get())
                                                                : "unknown format"));
    return;
  }
  std::size_t expanded_here = 0;
  bool odf_encrypted = false;  // an OpenDocument manifest names encrypted entries
  archive_entry* entry = nullptr;
  while (!ctx.stopped) {
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      ctx.uninspectable(
          where, fmt::format("damaged archive: {}",
                             archive_error_string(a.get()) ? archive_error_string(a.get()) : "?"));
      return;
    }
    const char* path = archive_entry_pathname_utf8(entry);
    if (!path) path = archive_entry_pathname(entry);
    std::string name = path ? path : "?";
    std::string here = where + " > " + name;
    if (!ctx.check(here)) return;
    if (archive_entry_filetype(entry) == AE_IFDIR) continue;
    ctx.text(here + " > file name", name);
    if (archive_entry_is_encrypted(entry) || archive_entry_is_data_encrypted(entry)) {
      ctx.uninspectable(here, "encrypted archive entry (password protected)");
      continue;
    }
    std::string data;
    Held held(ctx, here);
    char buf[65536];
    while (true) {
      la_ssize_t n = archive_read_data(a.get(), buf, sizeof buf);
      if (n == 0) break;
      if (n < 0) {
        const char* err = archive_error_string(a.get());
        std::string why = err ? err : "read error";
        ctx.uninspectable(here, why.find("ncrypt") != std::string::npos ||
                                        why.find("assphrase") != std::string::npos
                                    ? "encrypted archive entry (password protected)"
                                    : "unreadable archive entry: " + why);
        data.clear();
        break;
      }
      if (!held.grow(static_cast<std::size_t>(n))) return;
      data.append(buf, static_cast<std::size_t>(n));
      expanded_here += static_cast<std::size_t>(n);
      ctx.expanded += static_cast<std::size_t>(n);
      if (ctx.expanded > ctx.limits.max_expanded_bytes ||
          expanded_here > ctx.limits.max_ratio * std::max<std::size_t>(bytes.size(), 4096)) {
        ctx.uninspectable(
            here, fmt::format("limit: archive expands beyond {} bytes (ratio {} to 1 at most)",
                              ctx.expanded, ctx.limits.max_ratio));
        ctx.stopped = true;
        return;
      }
    }
    if (data.empty()) continue;
    // OpenDocument encrypts entry by entry and says so only in its manifest: the zip entries
    // read as data (ciphertext), so the document is uninspectable, however clean it reads.
    if (name == "META-INF/manifest.xml" && data.find("encryption-data") != std::string::npos)
      odf_encrypted = true;
    if (is_xml_entry(name)) {
      ctx.text(here, xml_text(data));
    } else {
      extract_content(ctx, data, name, "", here);
    }
  }
  if (odf_encrypted) ctx.uninspectable(where, "password-protected (encrypted) OpenDocument");
}

}  // namespace seegw::extract
