// seegw: the operator's command-line tools. `seegw scan` shows what the gateway's trigger-word
// scanner finds in message files (or single documents): classification, hits, uninspectable parts.
#include <fmt/format.h>

#include <cstdio>
#include <string>
#include <vector>

#include "seegw/common/file.hpp"
#include "seegw/scan/inspector.hpp"

namespace {

void usage() {
  std::fputs(
      "usage: seegw scan [--json] FILE...\n"
      "  Scans RFC 5322 message files (or single documents: .docx, .pdf, .zip ...) for the\n"
      "  SEEMail trigger words and prints the classification, each hit with where it was, and\n"
      "  what could not be inspected. Exit status 0 when every file was scanned, 2 on a usage or\n"
      "  I/O error.\n",
      stderr);
}

std::string json_string(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20)
          out += fmt::format("\\u{:04x}", c);
        else
          out.push_back(static_cast<char>(c));
    }
  }
  return out + "\"";
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) out.push_back(c < 0x20 ? ' ' : static_cast<char>(c));
  return out;
}

bool looks_like_document(std::string_view b) {
  return b.starts_with("PK\x03\x04") || b.starts_with("\xD0\xCF\x11\xE0") ||
         b.starts_with("%PDF-") || b.starts_with("{\\rtf") || b.starts_with("7z\xBC\xAF") ||
         b.starts_with("\x1F\x8B");
}

int scan_command(int argc, char** argv) {
  bool json = false;
  std::vector<std::string> files;
  for (int i = 0; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      json = true;
    else if (a == "--help" || a == "-h")
      return usage(), 0;
    else if (a.starts_with("-"))
      return usage(), 2;
    else
      files.push_back(a);
  }
  if (files.empty()) return usage(), 2;
  auto matcher = seegw::scan::Matcher::create();
  if (!matcher) {
    std::fprintf(stderr, "seegw scan: %s\n", matcher.error().message.c_str());
    return 2;
  }
  int status = 0;
  for (const auto& file : files) {
    auto read = seegw::read_file(file);
    if (!read) {
      std::fprintf(stderr, "seegw scan: %s\n", read.error().message.c_str());
      status = 2;
      continue;
    }
    const std::string& bytes = *read;
    auto report = looks_like_document(bytes) ? seegw::scan::inspect_file(bytes, file, **matcher)
                                             : seegw::scan::inspect_message(bytes, **matcher);
    const auto level = seegw::scan::classification_name(report.classification);
    if (json) {
      std::string out = fmt::format("{{\"file\":{},\"classification\":\"{}\",\"hits\":[",
                                    json_string(file), level);
      for (std::size_t i = 0; i < report.hits.size(); ++i) {
        const auto& h = report.hits[i];
        out += fmt::format("{}{{\"trigger\":\"{}\",\"where\":{},\"offset\":{},\"text\":{}}}",
                           i ? "," : "", seegw::scan::trigger_name(h.trigger), json_string(h.where),
                           h.offset, json_string(h.text));
      }
      out += "],\"uninspectable\":[";
      for (std::size_t i = 0; i < report.uninspectable.size(); ++i)
        out += fmt::format("{}{{\"where\":{},\"reason\":{}}}", i ? "," : "",
                           json_string(report.uninspectable[i].where),
                           json_string(report.uninspectable[i].reason));
      out += "],\"problems\":[";
      for (std::size_t i = 0; i < report.problems.size(); ++i)
        out += fmt::format("{}{}", i ? "," : "", json_string(report.problems[i]));
      out += "]}";
      std::puts(out.c_str());
    } else {
      std::printf("%s: %.*s\n", file.c_str(), static_cast<int>(level.size()), level.data());
      for (const auto& h : report.hits)
        std::printf("  hit %s in %s at offset %zu: \"%s\"\n",
                    std::string(seegw::scan::trigger_name(h.trigger)).c_str(), h.where.c_str(),
                    h.offset, printable(h.text).c_str());
      for (const auto& u : report.uninspectable)
        std::printf("  uninspectable: %s: %s\n", u.where.c_str(), u.reason.c_str());
      for (const auto& p : report.problems) std::printf("  problem: %s\n", p.c_str());
    }
  }
  return status;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "scan") return scan_command(argc - 2, argv + 2);
  usage();
  return 2;
}
