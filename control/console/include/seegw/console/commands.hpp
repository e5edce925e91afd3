// The appliance console's command language, shared by seegw-cli (completion, `?` help, checking
// a line before it is sent) and seegw-control (the role each command needs, dispatch). One table,
// so the shell can never offer a command the daemon does not know, or the other way round.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "seegw/common/error.hpp"

namespace seegw::console {

// Who may do what (OPS-4/5). Each role may do everything the roles before it may.
enum class Role { none, auditor, operator_, admin };
std::string_view role_name(Role role);

enum class ArgKind {
  queue_id,  // a spool queue ID
  domain,    // an agency's mail domain
  match,     // a TRUSTED entry: a domain or an address
  label,     // an HSM object label
  key_type,  // rsa:2048 ... ec:P-384
  dkim_key,  // a DKIM key's type: rsa (RSA-2048) or ed25519
  email,     // an address
  text,      // free text (one word, or quoted)
  count,     // a positive number
  file,      // a local file: seegw-cli sends its contents, never its path
  bundle,    // a local update bundle: seegw-cli copies it into the appliance's update folder
             // and sends the copy's name (a bundle is too big for one request)
};

struct ArgSpec {
  std::string_view name;  // as shown in help: ID, DOMAIN, FILE ...
  ArgKind kind;
  bool optional = false;
};

struct CommandSpec {
  std::vector<std::string_view> words;  // "show", "queue"
  std::vector<ArgSpec> args;
  Role role;
  std::string_view help;
  bool streams = false;      // the answer is a stream (monitor log) or has a progress bar
  std::string name() const;  // "show queue"
};

std::span<const CommandSpec> commands();

struct ParsedCommand {
  const CommandSpec* spec = nullptr;
  std::vector<std::string> args;
  std::string name() const;  // "show queue"
};

// Splits a console line into words: blanks separate, "double quotes" group, \ escapes.
Result<std::vector<std::string>> split_words(std::string_view line);

// Finds the command the words name and checks its arguments; the error says what was expected.
Result<ParsedCommand> parse_command(const std::vector<std::string>& words);

// Tab completion: the words that may follow `before` and start with `partial`.
std::vector<std::string> completions(const std::vector<std::string>& before,
                                     std::string_view partial);

// `?` help: one line per command that continues `before` (or the argument expected next).
std::vector<std::string> help_lines(const std::vector<std::string>& before);

}  // namespace seegw::console
