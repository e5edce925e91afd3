// Legacy Office: the OLE2 compound file (MS-CFB) read with bounds checks on every sector, then
// the real text streams: Word's piece table (MS-DOC), Excel's BIFF8 string records (MS-XLS),
// PowerPoint's text atoms (MS-PPT), Publisher's Quill text. Encrypted documents are reported.
#include <fmt/format.h>

#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <vector>

#include "context.hpp"
#include "seegw/mime/codec.hpp"

namespace seegw::extract {
namespace {

constexpr std::uint32_t kEndOfChain = 0xFFFFFFFE;
constexpr std::uint32_t kFreeSect = 0xFFFFFFFF;

std::uint16_t u16(std::string_view b, std::size_t off) {
  if (off + 2 > b.size()) return 0;
  return static_cast<std::uint16_t>(static_cast<unsigned char>(b[off]) |
                                    (static_cast<unsigned char>(b[off + 1]) << 8));
}
std::uint32_t u32(std::string_view b, std::size_t off) {
  if (off + 4 > b.size()) return 0;
  return static_cast<std::uint32_t>(u16(b, off)) |
         (static_cast<std::uint32_t>(u16(b, off + 2)) << 16);
}

class CompoundFile {
 public:
  struct Entry {
    std::string name;  // UTF-8
    std::string path;  // "Quill/QuillSub/CONTENTS"
    int type = 0;      // 1 storage, 2 stream, 5 root
    std::uint32_t start = 0;
    std::uint64_t size = 0;
    std::uint32_t left = kFreeSect, right = kFreeSect, child = kFreeSect;
  };

  // nullopt with a reason when the container is malformed.
  static std::optional<CompoundFile> open(std::string_view bytes, std::string& error) {
    CompoundFile f;
    f.bytes_ = bytes;
    if (bytes.size() < 512) return error = "truncated compound file", std::nullopt;
    unsigned shift = u16(bytes, 0x1E);
    unsigned mini_shift = u16(bytes, 0x20);
    if ((shift != 9 && shift != 12) || mini_shift != 6)
      return error = "bad sector size", std::nullopt;
    f.sector_size_ = 1u << shift;
    f.mini_cutoff_ = u32(bytes, 0x38);
    // FAT sector list: 109 in the header, the rest in the DIFAT chain.
    std::vector<std::uint32_t> fat_sectors;
    std::uint32_t num_fat = u32(bytes, 0x2C);
    if (num_fat > bytes.size() / f.sector_size_ + 1) return error = "bad FAT size", std::nullopt;
    for (unsigned i = 0; i < 109 && fat_sectors.size() < num_fat; ++i)
      fat_sectors.push_back(u32(bytes, 0x4C + i * 4));
    std::uint32_t difat = u32(bytes, 0x44);
    std::size_t guard = 0;
    while (fat_sectors.size() < num_fat && difat < kEndOfChain &&
           guard++ < bytes.size() / f.sector_size_) {
      std::size_t off = f.sector_offset(difat);
      if (off + f.sector_size_ > bytes.size())
        return error = "DIFAT outside the file", std::nullopt;
      for (std::size_t i = 0; i + 1 < f.sector_size_ / 4 && fat_sectors.size() < num_fat; ++i)
        fat_sectors.push_back(u32(bytes, off + i * 4));
      difat = u32(bytes, off + f.sector_size_ - 4);
    }
    for (auto s : fat_sectors) {
      std::size_t off = f.sector_offset(s);
      if (s >= kEndOfChain - 4 || off + f.sector_size_ > bytes.size())
        return error = "FAT outside the file", std::nullopt;
      for (std::size_t i = 0; i < f.sector_size_ / 4; ++i)
        f.fat_.push_back(u32(bytes, off + i * 4));
    }
    // Directory.
    std::string dir;
    if (!f.read_chain(u32(bytes, 0x30), f.fat_, dir, false))
      return error = "broken directory chain", std::nullopt;
    for (std::size_t off = 0; off + 128 <= dir.size(); off += 128) {
      Entry e;
      unsigned name_len = u16(dir, off + 64);
      if (name_len > 64) name_len = 64;
      e.name = utf16le_to_utf8(std::string_view(dir).substr(off, name_len >= 2 ? name_len - 2 : 0));
      e.type = static_cast<unsigned char>(dir[off + 66]);
      e.left = u32(dir, off + 68);
      e.right = u32(dir, off + 72);
      e.child = u32(dir, off + 76);
      e.start = u32(dir, off + 116);
      e.size = u32(dir, off + 120);  // the high half is unreliable in version 3 files
      f.entries_.push_back(std::move(e));
    }
    if (f.entries_.empty() || f.entries_[0].type != 5) return error = "no root entry", std::nullopt;
    // Mini FAT and mini stream (the root entry's data).
    std::string minifat;
    f.read_chain(u32(bytes, 0x3C), f.fat_, minifat, false);
    for (std::size_t i = 0; i + 4 <= minifat.size(); i += 4) f.minifat_.push_back(u32(minifat, i));
    f.read_chain(f.entries_[0].start, f.fat_, f.mini_stream_, false);
    // Paths: walk the red-black trees from the root's child.
    std::vector<bool> seen(f.entries_.size(), false);
    f.name_tree(f.entries_[0].child, "", seen, 0);
    return f;
  }

  const std::vector<Entry>& entries() const { return entries_; }

  std::string read(const Entry& e) const {
    std::string out;
    if (e.size < mini_cutoff_) {
      std::string data;
      std::uint32_t s = e.start;
      std::size_t guard = 0;
      while (s < kEndOfChain && s < minifat_.size() && guard++ <= minifat_.size() &&
             out.size() < e.size) {
        std::size_t off = static_cast<std::size_t>(s) * 64;
        if (off + 64 > mini_stream_.size()) break;
        out.append(mini_stream_, off, 64);
        s = minifat_[s];
      }
    } else {
      read_chain(e.start, fat_, out, false);
    }
    if (out.size() > e.size) out.resize(e.size);
    return out;
  }

 private:
  std::size_t sector_offset(std::uint32_t s) const {
    return (static_cast<std::size_t>(s) + 1) * sector_size_;
  }

  bool read_chain(std::uint32_t s, const std::vector<std::uint32_t>& fat, std::string& out,
                  bool) const {
    std::size_t guard = 0;
    while (s < kEndOfChain) {
      if (s >= fat.size() || guard++ > fat.size()) return false;  // out of range or a loop
      std::size_t off = sector_offset(s);
      if (off + sector_size_ > bytes_.size()) {
        if (off < bytes_.size()) out.append(bytes_.substr(off));
        return false;
      }
      out.append(bytes_.substr(off, sector_size_));
      s = fat[s];
    }
    return true;
  }

  void name_tree(std::uint32_t id, const std::string& prefix, std::vector<bool>& seen, int depth) {
    if (id >= entries_.size() || seen[id] || depth > 64) return;
    seen[id] = true;
    Entry& e = entries_[id];
    e.path = prefix.empty() ? e.name : prefix + "/" + e.name;
    name_tree(e.left, prefix, seen, depth + 1);
    name_tree(e.right, prefix, seen, depth + 1);
    if (e.type == 1) name_tree(e.child, e.path, seen, depth + 1);
  }

  std::string_view bytes_;
  std::size_t sector_size_ = 512;
  std::uint32_t mini_cutoff_ = 4096;
  std::vector<std::uint32_t> fat_, minifat_;
  std::string mini_stream_;
  std::vector<Entry> entries_;
};

// Control characters of Word's text (cell marks, field delimiters, paragraph ends) as breaks.
std::string cleaned(std::string text) {
  for (auto& c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n' && c != '\t') c = '\n';
  }
  return text;
}

// MS-DOC: the FIB points to the piece table (Clx) in the table stream; each piece is 8-bit
// (cp1252) or UTF-16 text in the WordDocument stream.
void word_text(Context& ctx, const CompoundFile& cf, std::string_view doc,
               const std::string& where) {
  if (u16(doc, 0) != 0xA5EC) {
    ctx.uninspectable(where, "not a Word document stream");
    return;
  }
  std::uint16_t flags = u16(doc, 0x0A);
  if (flags & 0x0100) {
    ctx.uninspectable(where, "password-protected (encrypted) Word document");
    return;
  }
  const char* table_name = (flags & 0x0200) ? "1Table" : "0Table";
  std::string table;
  for (const auto& e : cf.entries())
    if (e.type == 2 && e.path == table_name) table = cf.read(e);
  std::uint32_t fc_clx = u32(doc, 0x01A2), lcb_clx = u32(doc, 0x01A6);
  if (table.empty() || static_cast<std::uint64_t>(fc_clx) + lcb_clx > table.size()) {
    ctx.uninspectable(where, "Word document without a readable piece table");
    return;
  }
  std::string_view clx = std::string_view(table).substr(fc_clx, lcb_clx);
  std::size_t pos = 0;
  while (pos < clx.size() && clx[pos] == 0x01) pos += 3 + u16(clx, pos + 1);  // Prc entries
  if (pos + 5 > clx.size() || clx[pos] != 0x02) {
    ctx.uninspectable(where, "Word document with a damaged piece table");
    return;
  }
  std::uint32_t lcb = u32(clx, pos + 1);
  std::string_view plc = clx.substr(pos + 5, std::min<std::size_t>(lcb, clx.size() - pos - 5));
  std::size_t n = plc.size() >= 4 ? (plc.size() - 4) / 12 : 0;
  std::string text;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t cp0 = u32(plc, i * 4), cp1 = u32(plc, (i + 1) * 4);
    if (cp1 <= cp0 || cp1 - cp0 > doc.size()) continue;
    std::size_t chars = cp1 - cp0;
    std::uint32_t fc = u32(plc, (n + 1) * 4 + i * 8 + 2);
    bool compressed = fc & 0x40000000;
    fc &= 0x3FFFFFFF;
    if (compressed) {
      std::size_t off = fc / 2;
      if (off + chars > doc.size()) continue;
      text += mime::to_utf8(doc.substr(off, chars), "windows-1252");
    } else {
      if (static_cast<std::size_t>(fc) + chars * 2 > doc.size()) continue;
      text += utf16le_to_utf8(doc.substr(fc, chars * 2));
    }
  }
  ctx.text(where, cleaned(std::move(text)));
}

// MS-XLS BIFF8: shared strings (SST + CONTINUE), sheet names, labels, headers and footers.
class BiffStrings {
 public:
  // segments: payloads of SST followed by its CONTINUE records; a string's characters may be
  // split at a segment boundary, where a new flags byte says whether the rest is 8- or 16-bit.
  explicit BiffStrings(std::vector<std::string_view> segments) : segs_(std::move(segments)) {}

  bool read_string(std::string& out, bool has_rich_ext = true) {
    std::uint16_t cch;
    std::uint8_t flags;
    if (!bytes(2, cch) || !byte(flags)) return false;
    std::uint16_t runs = 0;
    std::uint32_t ext = 0;
    if (has_rich_ext && (flags & 0x08) && !bytes(2, runs)) return false;
    if (has_rich_ext && (flags & 0x04) && !bytes(4, ext)) return false;
    bool wide = flags & 0x01;
    for (std::uint32_t i = 0; i < cch; ++i) {
      if (off_ >= segs_[seg_].size()) {  // continue: new flags byte
        if (!next_segment()) return false;
        std::uint8_t f;
        if (!byte(f)) return false;
        wide = f & 0x01;
      }
      if (wide) {
        std::uint16_t u;
        if (!bytes(2, u)) return false;
        append_utf8(out, u ? u : '\n');
      } else {
        std::uint8_t b;
        if (!byte(b)) return false;
        std::string one(1, static_cast<char>(b));
        out += static_cast<unsigned char>(b) < 0x80 ? one : mime::to_utf8(one, "windows-1252");
      }
    }
    return skip(static_cast<std::size_t>(runs) * 4 + ext);
  }

 private:
  bool next_segment() {
    if (seg_ + 1 >= segs_.size()) return false;
    ++seg_;
    off_ = 0;
    return true;
  }
  bool byte(std::uint8_t& v) {
    while (off_ >= segs_[seg_].size())
      if (!next_segment()) return false;
    v = static_cast<std::uint8_t>(segs_[seg_][off_++]);
    return true;
  }
  template <class T>
  bool bytes(int n, T& v) {
    v = 0;
    for (int i = 0; i < n; ++i) {
      std::uint8_t b;
      if (!byte(b)) return false;
      v |= static_cast<T>(static_cast<T>(b) << (8 * i));
    }
    return true;
  }
  bool skip(std::size_t n) {
    while (n > 0) {
      if (off_ >= segs_[seg_].size() && !next_segment()) return false;
      std::size_t take = std::min(n, segs_[seg_].size() - off_);
      off_ += take;
      n -= take;
    }
    return true;
  }
  std::vector<std::string_view> segs_;
  std::size_t seg_ = 0, off_ = 0;
};

void excel_text(Context& ctx, std::string_view wb, const std::string& where) {
  std::string text;
  std::size_t pos = 0;
  auto record_at = [&](std::size_t p, std::uint16_t& type, std::string_view& data) {
    if (p + 4 > wb.size()) return false;
    type = u16(wb, p);
    std::uint16_t len = u16(wb, p + 2);
    if (p + 4 + len > wb.size()) return false;
    data = wb.substr(p + 4, len);
    return true;
  };
  std::uint16_t type;
  std::string_view data;
  while (record_at(pos, type, data)) {
    std::size_t next = pos + 4 + data.size();
    switch (type) {
      case 0x002F:  // FILEPASS
        ctx.uninspectable(where, "password-protected (encrypted) Excel workbook");
        return;
      case 0x00FC: {  // SST, then CONTINUE records
        std::vector<std::string_view> segs{data.size() > 8 ? data.substr(8) : std::string_view()};
        std::uint32_t unique = u32(data, 4);
        std::uint16_t t2;
        std::string_view d2;
        while (record_at(next, t2, d2) && t2 == 0x003C) {
          segs.push_back(d2);
          next += 4 + d2.size();
        }
        BiffStrings reader(std::move(segs));
        for (std::uint32_t i = 0; i < unique; ++i) {
          if (!reader.read_string(text)) break;
          text.push_back('\n');
        }
        break;
      }
      case 0x0085: {  // BOUNDSHEET: sheet name
        if (data.size() > 8) {
          std::uint8_t cch = static_cast<std::uint8_t>(data[6]);
          std::uint8_t flags = static_cast<std::uint8_t>(data[7]);
          std::string_view chars = data.substr(8);
          if (flags & 1)
            text += utf16le_to_utf8(chars.substr(0, static_cast<std::size_t>(cch) * 2));
          else
            text += mime::to_utf8(chars.substr(0, cch), "windows-1252");
          text.push_back('\n');
        }
        break;
      }
      case 0x0204:    // LABEL
      case 0x0014:    // HEADER
      case 0x0015: {  // FOOTER
        std::string_view s =
            type == 0x0204 ? (data.size() > 6 ? data.substr(6) : std::string_view()) : data;
        BiffStrings reader({s});
        reader.read_string(text, false);
        text.push_back('\n');
        break;
      }
      case 0x01B6: {  // TXO (comment text box): the text follows in CONTINUE records
        std::uint16_t t2;
        std::string_view d2;
        if (record_at(next, t2, d2) && t2 == 0x003C && !d2.empty()) {
          bool wide = d2[0] & 1;
          std::string_view chars = d2.substr(1);
          text += wide ? utf16le_to_utf8(chars) : mime::to_utf8(chars, "windows-1252");
          text.push_back('\n');
        }
        break;
      }
      default:
        break;
    }
    pos = next;
  }
  ctx.text(where, cleaned(std::move(text)));
}

// MS-PPT: records with an 8-byte header; containers (version 0xF) hold more records.
void ppt_records(std::string_view s, std::string& text, bool& encrypted, int depth) {
  std::size_t pos = 0;
  while (pos + 8 <= s.size() && depth < 32) {
    std::uint16_t ver_inst = u16(s, pos);
    std::uint16_t type = u16(s, pos + 2);
    std::uint32_t len = u32(s, pos + 4);
    if (len > s.size() - pos - 8) len = static_cast<std::uint32_t>(s.size() - pos - 8);
    std::string_view body = s.substr(pos + 8, len);
    if (type == 0x2F14) encrypted = true;  // CryptSession10Container
    if ((ver_inst & 0x000F) == 0x000F) {
      ppt_records(body, text, encrypted, depth + 1);
    } else if (type == 0x0FA0 || type == 0x0FBA) {  // TextCharsAtom, CString
      text += utf16le_to_utf8(body);
      text.push_back('\n');
    } else if (type == 0x0FA8) {  // TextBytesAtom
      text += mime::to_utf8(body, "windows-1252");
      text.push_back('\n');
    }
    pos += 8 + len;
  }
}

}  // namespace

void extract_ole2(Context& ctx, std::string_view bytes, const std::string& where) {
  std::string error;
  auto cf = CompoundFile::open(bytes, error);
  if (!cf) {
    ctx.uninspectable(where, "damaged OLE2 compound file: " + error);
    return;
  }
  bool structured = false;
  for (const auto& e : cf->entries()) {
    if (e.type == 2 && (e.path == "EncryptedPackage" || e.path == "EncryptionInfo")) {
      ctx.uninspectable(where, "password-protected (encrypted) Office document");
      return;
    }
  }
  for (const auto& e : cf->entries()) {
    if (e.type != 2 || ctx.stopped) continue;
    const std::string here = where + " > " + e.path;
    if (!ctx.check(here)) return;
    std::string data = cf->read(e);
    ctx.expanded += data.size();
    if (e.path == "WordDocument") {
      word_text(ctx, *cf, data, here);
      structured = true;
    } else if (e.path == "Workbook" || e.path == "Book") {
      excel_text(ctx, data, here);
      structured = true;
    } else if (e.path == "PowerPoint Document") {
      std::string text;
      bool encrypted = false;
      ppt_records(data, text, encrypted, 0);
      if (encrypted)
        ctx.uninspectable(here, "password-protected (encrypted) PowerPoint presentation");
      else
        ctx.text(here, cleaned(std::move(text)));
      structured = true;
    } else if (e.path == "Quill/QuillSub/CONTENTS") {  // Publisher's text
      ctx.text(here, cleaned(utf16le_runs(data)));
      structured = true;
    } else if (e.name == "\x01Ole10Native" && data.size() > 4) {
      // An embedded file (packager object): inspect its bytes as a file of their own.
      extract_content(ctx, std::string_view(data).substr(4), e.name, "", here);
    } else if (e.path.find("ObjectPool") != std::string::npos || e.name == "Package" ||
               e.name == "CONTENTS") {
      extract_content(ctx, data, e.name, "", here);  // embedded documents
    } else {
      // Streams we do not parse: their readable text, so nothing goes unseen.
      std::string wide = utf16le_runs(data);
      ctx.text(here, wide);
      ctx.text(here + " (8-bit)", cleaned(data));
    }
  }
  if (!structured)
    ctx.sink.problem(where, "OLE2 file of no known Office type: read as raw streams");
}

}  // namespace seegw::extract
