// seegw: the operator's command-line tools. `seegw scan` shows what the gateway's trigger-word
// scanner finds in message files (or single documents): classification, hits, uninspectable parts.
// `seegw queue ...`, `seegw explain ID`, `seegw status` and `seegw reload` talk to a running
// seegw-dataplane over its admin socket (seegw-cli, with roles and audit, comes with control).
#include <fmt/format.h>

#include <cstdio>
#include <set>
#include <string>
#include <vector>

#include <filesystem>

#include "seegw/common/admin_protocol.hpp"
#include "seegw/common/file.hpp"
#include "seegw/common/unix_socket.hpp"
#include "seegw/config/config.hpp"
#include "seegw/relay/admin_socket.hpp"
#include "seegw/scan/inspector.hpp"

namespace {

void usage() {
  std::fputs(
      "usage: seegw scan [--json] FILE...\n"
      "       seegw [--config FILE | --socket PATH] queue held\n"
      "       seegw [--config FILE | --socket PATH] queue release|delete QUEUE-ID\n"
      "       seegw [--config FILE | --socket PATH] explain QUEUE-ID\n"
      "       seegw [--config FILE | --socket PATH] status | reload | stack | sge | tls-report\n"
      "       seegw [--config FILE | --socket PATH] dkim list | generate SELECTOR rsa|ed25519 |\n"
      "                                               sign SELECTOR | retire SELECTOR\n"
      "  The admin socket is [admin] socket in the data plane's config (default\n"
      "  <spool>/admin.sock); only the gateway's user or root may use it.\n"
      "\n"
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

// Sends one admin command; prints the reply without its "ok" line. Exit 0 on ok, 1 on an error
// reply, 2 when the data plane cannot be reached.
int admin_command(const std::filesystem::path& socket, const std::string& command) {
  auto reply = seegw::unix_request(socket, command);
  if (!reply) {
    std::fprintf(stderr, "seegw: %s\n", reply.error().message.c_str());
    return 2;
  }
  if (reply->starts_with("ok")) {
    std::string rest = reply->substr(
        reply->find('\n') == std::string::npos ? reply->size() : reply->find('\n') + 1);
    std::string first = reply->substr(0, reply->find('\n'));
    // A table's first line only names the protocol version (seegw/common/admin_protocol.hpp).
    if (first.size() > 3 && first != seegw::admin::kRowsHeader)
      std::printf("%s\n", first.substr(3).c_str());
    std::fputs(rest.c_str(), stdout);
    return 0;
  }
  std::fputs(reply->c_str(), stderr);
  return 1;
}

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "scan") return scan_command(argc - 2, argv + 2);
  std::filesystem::path socket = "spool/admin.sock";
  while (args.size() >= 2 && (args[0] == "--config" || args[0] == "--socket")) {
    if (args[0] == "--socket") {
      socket = args[1];
    } else {
      auto config = seegw::config::load(args[1]);
      if (!config) {
        std::fprintf(stderr, "seegw: %s\n", config.error().message.c_str());
        return 2;
      }
      socket = config->admin_socket;
    }
    args.erase(args.begin(), args.begin() + 2);
  }
  if (args.size() == 2 && args[0] == "queue" && args[1] == "held")
    return admin_command(socket, "held");
  if (args.size() == 3 && args[0] == "queue" && (args[1] == "release" || args[1] == "delete"))
    return admin_command(socket, args[1] + " " + args[2]);
  if (args.size() == 2 && args[0] == "explain") return admin_command(socket, "explain " + args[1]);
  static const std::set<std::string> single_word = {"status", "reload", "stack", "sge",
                                                    "tls-report"};
  if (args.size() == 1 && single_word.contains(args[0])) return admin_command(socket, args[0]);
  if (args.size() >= 2 && args.size() <= 4 && args[0] == "dkim") {
    std::string line;
    for (const auto& a : args) line += (line.empty() ? "" : " ") + a;
    return admin_command(socket, line);
  }
  usage();
  return 2;
}
