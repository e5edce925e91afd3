#include "seegw/console/commands.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <utility>

#include "seegw/common/text.hpp"
#include "seegw/spool/queue_id.hpp"

namespace seegw::console {
namespace {

using enum ArgKind;
constexpr Role A = Role::auditor, O = Role::operator_, D = Role::admin;

// Read-only commands are the auditor's; work on the mail flow is the operator's; anything that
// changes what is trusted, or the keys, is the administrator's.
const std::vector<CommandSpec>& table() {
  static const std::vector<CommandSpec> t = {
      {{"show", "status"}, {}, A, "operational? directory, snapshot, HSM"},
      {{"show", "stats"}, {}, A, "message counters since the start"},
      {{"show", "queue"}, {}, A, "messages waiting for delivery"},
      {{"show", "held"}, {}, A, "the hold queue, with each reason"},
      {{"show", "certificates"}, {}, A, "certificates in use, learnt, pending"},
      {{"show", "agencies"}, {}, A, "the SEEMAIL and VENDOR lists"},
      {{"show", "trusted"}, {}, A, "the TRUSTED list"},
      {{"show", "crl"}, {}, A, "cached CRLs and their next update"},
      {{"show", "sge"}, {}, A, "the DNS records SGE needs, checked"},
      {{"show", "log"}, {{"COUNT", count, true}}, A, "recent faults, alerts and intrusions"},
      {{"monitor", "log"}, {}, A, "follow faults, alerts, intrusions live", true},
      {{"queue", "release"}, {{"ID", queue_id}}, O, "send a held message through the rules"},
      {{"queue", "delete"}, {{"ID", queue_id}}, O, "delete a held message"},
      {{"queue", "requeue"}, {{"ID", queue_id}}, O, "retry a deferred message now"},
      {{"queue", "explain"}, {{"ID", queue_id}}, A, "which rule decided what, and why"},
      {{"trusted", "add"},
       {{"MATCH", match}, {"CERTIFICATE-FILE", file, true}},
       D,
       "add to the TRUSTED list"},
      {{"trusted", "remove"}, {{"MATCH", match}}, D, "remove from the TRUSTED list"},
      {{"certificate", "discover"},
       {{"DOMAIN", domain}},
       O,
       "find and validate it in the directory",
       true},
      {{"certificate", "approve"}, {{"DOMAIN", domain}}, D, "use a certificate awaiting approval"},
      {{"certificate", "import"},
       {{"DOMAIN", domain}, {"FILE", file}},
       D,
       "use this certificate for the agency"},
      {{"certificate", "export"}, {{"DOMAIN", domain}}, A, "print the certificate used (PEM)"},
      {{"certificate", "publish"}, {}, D, "put our certificate in the directory"},
      {{"key", "list"}, {}, A, "the HSM's key pairs and their protection"},
      {{"key", "generate"},
       {{"LABEL", label}, {"TYPE", key_type, true}},
       D,
       "generate a key pair inside the HSM"},
      {{"key", "csr"},
       {{"LABEL", label}, {"EMAIL", email}, {"NAME", text, true}},
       D,
       "a CSR signed by the HSM key (PEM)"},
      {{"key", "install"},
       {{"LABEL", label}, {"CERTIFICATE-FILE", file}},
       D,
       "install the key's issued certificate"},
      {{"key", "rollover"},
       {{"LABEL", label}, {"EMAIL", email}, {"TYPE", key_type, true}},
       D,
       "change-over 1: new key pair, CSR"},
      {{"key", "switch"},
       {{"LABEL", label}, {"CERTIFICATE-FILE", file}},
       D,
       "change-over 2: sign with it, publish"},
      {{"key", "retire"}, {{"LABEL", label}}, D, "destroy a key pair (compromise)"},
      {{"dkim", "list"}, {}, A, "DKIM keys, which sign, their DNS TXT"},
      {{"dkim", "generate"},
       {{"SELECTOR", label}, {"TYPE", dkim_key}},
       D,
       "rotation 1: new key in the HSM, TXT"},
      {{"dkim", "sign"}, {{"SELECTOR", label}}, D, "rotation 2: sign with it (published)"},
      {{"dkim", "retire"}, {{"SELECTOR", label}}, D, "rotation 3: destroy an unused key"},
      {{"tls", "report"}, {}, O, "send the TLS reports (TLS-RPT) now"},
      {{"ping"}, {{"DOMAIN", domain}}, O, "send a seemail-ping to an agency"},
      {{"config", "show"}, {}, A, "the configuration in use (no secrets)"},
      {{"config", "check"}, {}, O, "check the configuration and snapshot"},
      {{"config", "reload"}, {}, D, "check it, sync, reload the data plane", true},
      {{"directory", "sync"}, {}, O, "fetch agencies and certificates now", true},
      {{"crl", "refresh"}, {}, O, "fetch every CRL now", true},
      {{"audit", "show"}, {{"COUNT", count, true}}, A, "the latest audit log entries"},
      {{"audit", "verify"}, {}, A, "check the audit log's hash chain"},
      {{"show", "system"}, {}, A, "firmware version and the boot slots"},
      {{"system", "update"},
       {{"BUNDLE-FILE", bundle}},
       D,
       "install a signed update, boot it",
       true},
      {{"system", "reboot"}, {}, D, "restart the appliance"},
  };
  return t;
}

bool arg_ok(const ArgSpec& spec, const std::string& v, std::string& why) {
  auto printable = [&] {
    return std::all_of(v.begin(), v.end(),
                       [](char c) { return static_cast<unsigned char>(c) >= 0x20 && c != 0x7f; });
  };
  switch (spec.kind) {
    case queue_id:
      if (spool::is_queue_id(v)) return true;
      why = "is not a queue ID (14 hexadecimal digits, as `show queue` lists them)";
      return false;
    case domain:
    case match: {
      const auto at = v.find('@');
      const std::string_view host =
          at == std::string::npos ? std::string_view(v) : std::string_view(v).substr(at + 1);
      const bool ok = !host.empty() && host.size() <= 253 &&
                      (spec.kind == match || at == std::string::npos) &&
                      std::all_of(host.begin(), host.end(), [](char c) {
                        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                               (c >= '0' && c <= '9') || c == '-' || c == '.';
                      });
      if (ok && printable()) return true;
      why = spec.kind == domain ? "is not a mail domain" : "is not a domain or an address";
      return false;
    }
    case label:
      if (is_key_label(v)) return true;
      why = "is not a key label (letters, digits, - _ .)";
      return false;
    case key_type:
      if (v == "rsa:2048" || v == "rsa:3072" || v == "rsa:4096" || v == "ec:P-256" ||
          v == "ec:P-384")
        return true;
      why = "is not a key type (rsa:2048, rsa:3072, rsa:4096, ec:P-256, ec:P-384)";
      return false;
    case dkim_key:
      if (v == "rsa" || v == "ed25519") return true;
      why = "is not a DKIM key type (rsa, ed25519)";
      return false;
    case email:
      if (v.find('@') != std::string::npos && v.find_first_of(" <>\"") == std::string::npos &&
          printable())
        return true;
      why = "is not a mail address";
      return false;
    case count: {
      unsigned n = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
      if (ec == std::errc() && p == v.data() + v.size() && n > 0 && n <= 100000) return true;
      why = "is not a count (1 to 100000)";
      return false;
    }
    case text:
    case file:
    case bundle:
      if (printable() && !v.empty()) return true;
      why = "is empty or holds control characters";
      return false;
  }
  return false;
}

std::string usage_of(const CommandSpec& c) {
  std::string s;
  for (auto w : c.words) s += (s.empty() ? "" : " ") + std::string(w);
  for (const auto& a : c.args)
    s += a.optional ? fmt::format(" [{}]", a.name) : fmt::format(" {}", a.name);
  return s;
}

bool starts(const CommandSpec& c, const std::vector<std::string>& words) {
  if (words.size() > c.words.size()) return false;
  for (std::size_t i = 0; i < words.size(); ++i)
    if (c.words[i] != words[i]) return false;
  return true;
}

}  // namespace

std::string_view role_name(Role role) {
  switch (role) {
    case Role::none:
      return "none";
    case Role::auditor:
      return "auditor";
    case Role::operator_:
      return "operator";
    case Role::admin:
      return "admin";
  }
  return "?";
}

std::span<const CommandSpec> commands() { return table(); }

std::string CommandSpec::name() const {
  std::string s;
  for (auto w : words) s += (s.empty() ? "" : " ") + std::string(w);
  return s;
}

std::string ParsedCommand::name() const { return spec->name(); }

Result<std::vector<std::string>> split_words(std::string_view line) {
  std::vector<std::string> out;
  std::string word;
  bool in_word = false, quoted = false;
  for (std::size_t i = 0; i < line.size(); ++i) {
    const char c = line[i];
    if (c == '\\') {
      if (i + 1 == line.size()) return fail(Errc::parse, "a \\ at the end of the line");
      word.push_back(line[++i]);
      in_word = true;
    } else if (c == '"') {
      quoted = !quoted;
      in_word = true;
    } else if ((c == ' ' || c == '\t') && !quoted) {
      if (in_word) out.push_back(std::exchange(word, {}));
      in_word = false;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (quoted) return fail(Errc::parse, "a quote is not closed");
  if (in_word) out.push_back(std::move(word));
  return out;
}

Result<ParsedCommand> parse_command(const std::vector<std::string>& words) {
  if (words.empty()) return fail(Errc::parse, "no command (type ? for the list)");
  // The longest command whose words all match.
  const CommandSpec* best = nullptr;
  for (const auto& c : table()) {
    if (c.words.size() > words.size()) continue;
    if (!std::equal(c.words.begin(), c.words.end(), words.begin())) continue;
    if (!best || c.words.size() > best->words.size()) best = &c;
  }
  if (!best) {
    std::vector<std::string> prefix;
    for (const auto& w : words) {
      prefix.push_back(w);
      if (completions(std::vector<std::string>(prefix.begin(), prefix.end() - 1), w).empty() ||
          std::none_of(table().begin(), table().end(),
                       [&](auto& c) { return starts(c, prefix); })) {
        prefix.pop_back();
        break;
      }
    }
    std::string known;
    for (const auto& w : prefix) known += w + " ";
    std::string next;
    for (const auto& c : completions(prefix, "")) next += (next.empty() ? "" : ", ") + c;
    if (prefix.size() == words.size())
      return fail(Errc::parse, fmt::format("incomplete command: after '{}' comes one of: {}",
                                           known.substr(0, known.size() - 1), next));
    const std::string& bad = words[prefix.size()];
    return fail(Errc::parse,
                prefix.empty() ? fmt::format("unknown command '{}' (type ? for the list)", bad)
                               : fmt::format("'{}{}' is not a command; after '{}' comes one "
                                             "of: {}",
                                             known, bad, known.substr(0, known.size() - 1), next));
  }
  ParsedCommand p{best,
                  {words.begin() + static_cast<std::ptrdiff_t>(best->words.size()), words.end()}};
  std::size_t required = 0;
  for (const auto& a : best->args) required += a.optional ? 0 : 1;
  if (p.args.size() < required || p.args.size() > best->args.size())
    return fail(Errc::parse, fmt::format("usage: {}", usage_of(*best)));
  for (std::size_t i = 0; i < p.args.size(); ++i) {
    std::string why;
    // A file argument is checked by whoever reads the file.
    if (best->args[i].kind == file) continue;
    if (!arg_ok(best->args[i], p.args[i], why))
      return fail(Errc::parse, fmt::format("{}: '{}' {}", best->args[i].name, p.args[i], why));
  }
  return p;
}

std::vector<std::string> completions(const std::vector<std::string>& before,
                                     std::string_view partial) {
  std::vector<std::string> out;
  for (const auto& c : table()) {
    if (!starts(c, before) || c.words.size() == before.size()) continue;
    const std::string_view next = c.words[before.size()];
    if (next.starts_with(partial)) out.emplace_back(next);
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::vector<std::string> help_lines(const std::vector<std::string>& before) {
  std::vector<std::string> out;
  for (const auto& c : table()) {
    // Inside a command's arguments: that command's usage.
    const bool within = c.words.size() <= before.size() &&
                        std::equal(c.words.begin(), c.words.end(), before.begin());
    if (!within && !starts(c, before)) continue;
    out.push_back(fmt::format("  {:<36} {}", usage_of(c), c.help));
  }
  return out;
}

}  // namespace seegw::console
