#include "console_text.hpp"

#include <fmt/format.h>
#include <openssl/evp.h>

#include <algorithm>
#include <ctime>

namespace seegw::daemon {

std::int64_t now() { return std::time(nullptr); }

std::string when(std::int64_t t) {
  if (t == 0) return "never";
  std::time_t tt = t;
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%SZ", &tm);
  return buf;
}

std::string span_of(std::int64_t s) {
  s = std::max<std::int64_t>(0, s);
  if (s < 120) return fmt::format("{}s", s);
  if (s < 7200) return fmt::format("{}m", s / 60);
  if (s < 172800) return fmt::format("{}h", s / 3600);
  return fmt::format("{}d", s / 86400);
}

std::string age(std::int64_t since) { return span_of(now() - since); }

// A table that reads well at 80 columns: fixed widths, the last column takes what is left,
// cells too long for their column end in '~'.
std::string render_table(const std::vector<std::string>& heads,
                         const std::vector<std::vector<std::string>>& rows,
                         const std::vector<std::size_t>& widths) {
  std::size_t used = 0;
  for (auto w : widths) used += w + 1;
  const std::size_t last = used < 79 ? 79 - used : 10;
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const std::size_t w = i < widths.size() ? widths[i] : last;
      std::string c = cells[i];
      if (c.size() > w) c = c.substr(0, w - 1) + "~";
      if (i + 1 < cells.size()) c.resize(w, ' ');
      out += c + (i + 1 < cells.size() ? " " : "");
    }
    return out + "\n";
  };
  std::string out = line(heads);
  for (const auto& r : rows) out += line(r);
  if (rows.empty()) out += "(none)\n";
  return out;
}

// Words wrapped to 80 columns; lines after the first start with `indent` spaces.
std::string wrap(const std::string& text, std::size_t indent) {
  std::string out;
  std::size_t start = std::min(text.find_first_not_of(' '), text.size());
  std::string line(start, ' ');  // the text's own indentation stays
  while (start < text.size()) {
    auto end = text.find(' ', start);
    if (end == std::string::npos) end = text.size();
    const std::string word = text.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.size() + 1 + word.size() > 79) {
      out += line + "\n";
      line = std::string(indent, ' ');
    } else if (!line.empty() && line.find_first_not_of(' ') != std::string::npos) {
      line += " ";
    }
    line += word;
  }
  return out + line + "\n";
}

std::string asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return "?";
  return fmt::format("{:04}-{:02}-{:02} {:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min);
}

}  // namespace seegw::daemon
