// Outlook's TNEF (winmail.dat, MS-OXTNEF): attachment titles and data become files of their own;
// the message body and MAPI properties are read as text (8-bit and UTF-16) so nothing hides there.
#include <fmt/format.h>

#include <cstdint>

#include "context.hpp"

namespace seegw::extract {
namespace {

std::uint32_t le32(std::string_view b, std::size_t off) {
  return static_cast<std::uint32_t>(static_cast<unsigned char>(b[off])) |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[off + 1])) << 8 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[off + 2])) << 16 |
         static_cast<std::uint32_t>(static_cast<unsigned char>(b[off + 3])) << 24;
}

constexpr std::uint32_t kAttBody = 0x0001800C;
constexpr std::uint32_t kAttAttachTitle = 0x00018010;
constexpr std::uint32_t kAttAttachData = 0x0006800F;
constexpr std::uint32_t kAttMapiProps = 0x00069003;
constexpr std::uint32_t kAttAttachment = 0x00069005;

}  // namespace

void extract_tnef(Context& ctx, std::string_view b, const std::string& where) {
  std::size_t pos = 6;  // signature (4) + legacy key (2)
  std::string title;
  int n = 0;
  while (pos + 9 <= b.size() && !ctx.stopped) {
    std::uint32_t id = le32(b, pos + 1);
    std::uint32_t len = le32(b, pos + 5);
    if (len > b.size() - pos - 9) {
      ctx.uninspectable(where, "truncated TNEF attribute");
      return;
    }
    std::string_view data = b.substr(pos + 9, len);
    switch (id) {
      case kAttAttachTitle:
        title = std::string(data.substr(0, data.find('\0')));
        break;
      case kAttAttachData: {
        std::string here = fmt::format("{} > {}", where,
                                       title.empty() ? fmt::format("attachment {}", ++n) : title);
        if (!ctx.check(here)) return;
        extract_content(ctx, data, title, "", here);
        title.clear();
        break;
      }
      case kAttBody:
        ctx.text(where + " > body", data);
        break;
      case kAttMapiProps:
      case kAttAttachment:
        ctx.text(where + " > properties", data);
        ctx.text(where + " > properties (UTF-16 text)", utf16le_runs(data));
        break;
      default:
        break;
    }
    pos += 9 + len + 2;  // level, id, length, data, checksum
  }
}

}  // namespace seegw::extract
