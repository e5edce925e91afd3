// seegw-cli: the appliance console, on the serial line and over SSH: every operator account's
// login shell. An interactive shell (libedit: history, tab completion, `?` for help) or one
// command from the arguments (`seegw-cli show queue`, or `seegw-cli -c "show queue"` as sshd
// runs a login shell for `ssh gw show queue`); with stdin not a terminal, one command per line.
// Whatever is asked, only console commands run: there is no way from here to a system shell.
// It only talks to seegw-control's socket: what the caller may do is decided there, from the
// kernel's view of who the caller is, never here.
//
//   seegw-cli [--socket PATH] [--json] [COMMAND ...]
//   seegw-cli -c "COMMAND LINE"        (a login shell's one command)
//
// Exit status: 0 done; 1 the command failed or was refused; 2 a bad command line; 3 seegw-control
// cannot be reached.
#include <fcntl.h>
#include <histedit.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "seegw/common/file.hpp"
#include "seegw/common/unix_socket.hpp"
#include "seegw/console/commands.hpp"

namespace {

using Json = nlohmann::json;
using namespace seegw;

std::string g_socket = "/run/seegw/control.sock";
// Where `system update` leaves the bundle for RAUC (the appliance's data partition).
std::string g_updates = "/data/updates";
bool g_json = false;
volatile sig_atomic_t g_interrupted = 0;

void on_interrupt(int) { g_interrupted = 1; }

// A progress bar on stderr, drawn only for a person watching a terminal.
void draw_progress(const Json& p) {
  if (!::isatty(STDERR_FILENO)) return;
  const auto done = p.value("done", std::size_t{0}), total = p.value("total", std::size_t{0});
  const int width = 30;
  const int filled = total ? static_cast<int>(done * width / total) : 0;
  std::string what = p.value("what", std::string());
  if (what.size() > 32) what = what.substr(0, 31) + "~";
  std::fprintf(stderr, "\r[%s%s] %3zu/%-3zu %-32s",
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), ' ').c_str(), done, total,
               what.c_str());
  std::fflush(stderr);
}

void clear_progress(bool drawn) {
  if (drawn && ::isatty(STDERR_FILENO)) std::fprintf(stderr, "\r%79s\r", "");
}

std::string event_line(const Json& e) {
  std::time_t t = e.value("time", std::int64_t{0});
  std::tm tm{};
  gmtime_r(&t, &tm);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%d %H:%M:%SZ", &tm);
  return fmt::format("{} {:<7} {}: {}", stamp, e.value("level", std::string()),
                     e.value("program", std::string()), e.value("text", std::string()));
}

// A bundle copied into the update folder (g_updates) for RAUC to read; removed when this goes.
class StagedBundle {
 public:
  StagedBundle() = default;
  StagedBundle(const StagedBundle&) = delete;
  StagedBundle& operator=(const StagedBundle&) = delete;
  ~StagedBundle() {
    if (!path_.empty()) ::unlink(path_.c_str());
  }
  // Copies `from` (a file, or /dev/stdin over ssh) and returns the copy's name.
  Result<std::string> copy(const std::string& from) {
    std::string tmpl = g_updates + "/bundle-XXXXXX.raucb";
    const int out = ::mkstemps(tmpl.data(), 6);
    if (out < 0)
      return fail(Errc::io, fmt::format("cannot write to the update folder {}: {} (system "
                                        "update works on the appliance, for an admin)",
                                        g_updates, std::strerror(errno)));
    path_ = tmpl;
    ::fchmod(out, 0644);
    const int in = ::open(from.c_str(), O_RDONLY | O_CLOEXEC);
    if (in < 0) {
      ::close(out);
      return fail(Errc::io, fmt::format("cannot read {}: {}", from, std::strerror(errno)));
    }
    std::vector<char> buf(1 << 20);
    bool ok = true;
    for (ssize_t n; ok && (n = ::read(in, buf.data(), buf.size())) != 0;) {
      if (n < 0 && errno == EINTR) continue;
      ok = n > 0 && ::write(out, buf.data(), static_cast<std::size_t>(n)) == n;
    }
    ok = ::fsync(out) == 0 && ok;
    ::close(in);
    ::close(out);
    if (!ok) return fail(Errc::io, fmt::format("copying {} into {} failed", from, g_updates));
    return path_.substr(path_.rfind('/') + 1);
  }

 private:
  std::string path_;
};

// Runs one command line: checks it here (so a typo never reaches the daemon), sends it, prints
// the answer. Returns the exit status.
int execute(std::vector<std::string> words) {
  auto parsed = console::parse_command(words);
  if (!parsed) {
    std::fprintf(stderr, "%% %s\n", parsed.error().message.c_str());
    return 2;
  }
  // A file argument names a file here, on the console's side: its contents are what is sent.
  // A bundle is copied into the update folder and its copy's name sent; the copy goes when the
  // command ends, whatever its outcome.
  const std::size_t first_arg = parsed->spec->words.size();
  StagedBundle staged;
  for (std::size_t i = 0; i < parsed->args.size(); ++i) {
    if (parsed->spec->args[i].kind == console::ArgKind::bundle) {
      auto name = staged.copy(parsed->args[i]);
      if (!name) {
        std::fprintf(stderr, "%% %s\n", name.error().message.c_str());
        return 2;
      }
      words[first_arg + i] = *name;
      continue;
    }
    if (parsed->spec->args[i].kind != console::ArgKind::file) continue;
    auto text = read_file(parsed->args[i]);
    if (!text) {
      std::fprintf(stderr, "%% %s\n", text.error().message.c_str());
      return 2;
    }
    words[first_arg + i] = std::move(*text);
  }
  auto fd = unix_connect(g_socket);
  if (!fd) {
    std::fprintf(stderr, "%% seegw-control is not reachable at %s: %s\n", g_socket.c_str(),
                 fd.error().message.c_str());
    return 3;
  }
  const std::string request = Json{{"argv", words}}.dump() + "\n";
  if (::send(*fd, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    ::close(*fd);
    std::fprintf(stderr, "%% the request could not be sent\n");
    return 3;
  }
  // Ctrl-C ends a long command (monitor log) here without ending the shell.
  struct sigaction sa {
  }, old{};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, &old);
  g_interrupted = 0;
  std::string buffer;
  char chunk[16384];
  int status = 3;
  bool bar = false, answered = false;
  while (!answered) {
    pollfd p{*fd, POLLIN, 0};
    int ready = ::poll(&p, 1, -1);
    if (ready < 0 && errno == EINTR) {
      if (g_interrupted) {
        status = 0;
        break;
      }
      continue;
    }
    ssize_t n = ::read(*fd, chunk, sizeof chunk);
    if (n <= 0) break;
    buffer.append(chunk, static_cast<std::size_t>(n));
    std::size_t nl;
    while (!answered && (nl = buffer.find('\n')) != std::string::npos) {
      Json j = Json::parse(buffer.substr(0, nl), nullptr, false);
      buffer.erase(0, nl + 1);
      if (j.is_discarded() || !j.is_object()) continue;
      if (j.contains("progress")) {
        draw_progress(j["progress"]);
        bar = true;
      } else if (j.contains("event")) {
        std::printf("%s\n", g_json ? j["event"].dump().c_str() : event_line(j["event"]).c_str());
        std::fflush(stdout);
      } else if (j.contains("ok")) {
        clear_progress(bar);
        answered = true;
        const bool ok = j["ok"].get<bool>();
        status = ok ? 0 : 1;
        if (g_json && j.contains("data")) {
          std::printf("%s\n", j["data"].dump(2).c_str());
        } else {
          std::string text = j.value("text", std::string());
          if (!text.empty() && text.back() != '\n') text += "\n";
          if (ok)
            std::fputs(text.c_str(), stdout);
          else
            std::fprintf(stderr, "%% %s", text.c_str());
        }
      }
    }
  }
  sigaction(SIGINT, &old, nullptr);
  ::close(*fd);
  if (!answered && status == 3) std::fprintf(stderr, "%% seegw-control closed the connection\n");
  std::fflush(stdout);
  return status;
}

// The words before the cursor, and the one being typed.
std::pair<std::vector<std::string>, std::string> words_at_cursor(EditLine* el) {
  const LineInfo* li = el_line(el);
  std::string text(li->buffer, static_cast<std::size_t>(li->cursor - li->buffer));
  auto words = console::split_words(text).value_or(std::vector<std::string>{});
  std::string partial;
  if (!text.empty() && text.back() != ' ' && !words.empty()) {
    partial = words.back();
    words.pop_back();
  }
  return {words, partial};
}

unsigned char complete(EditLine* el, int) {
  auto [before, partial] = words_at_cursor(el);
  auto found = console::completions(before, partial);
  if (found.empty()) {
    // Past the command words: say which argument comes next.
    auto help = console::help_lines(before);
    if (help.empty()) return CC_ERROR;
    std::printf("\n");
    for (const auto& h : help) std::printf("%s\n", h.c_str());
    return CC_REDISPLAY;
  }
  if (found.size() == 1) {
    const std::string rest = found[0].substr(partial.size()) + " ";
    el_insertstr(el, rest.c_str());
    return CC_REFRESH;
  }
  // Several: extend by what they share, then list them.
  std::string common = found[0];
  for (const auto& f : found)
    while (!f.starts_with(common)) common.pop_back();
  if (common.size() > partial.size()) {
    el_insertstr(el, common.substr(partial.size()).c_str());
    return CC_REFRESH;
  }
  std::printf("\n");
  for (const auto& f : found) std::printf("  %s\n", f.c_str());
  return CC_REDISPLAY;
}

unsigned char help(EditLine* el, int) {
  auto [before, partial] = words_at_cursor(el);
  if (!partial.empty()) before.push_back(partial);
  auto lines = console::help_lines(before);
  if (lines.empty() && !before.empty()) {
    before.pop_back();
    lines = console::help_lines(before);
  }
  std::printf("\n");
  if (lines.empty()) std::printf("  (no command starts like that)\n");
  for (const auto& l : lines) std::printf("%s\n", l.c_str());
  return CC_REDISPLAY;
}

const char* prompt(EditLine*) { return "seegw> "; }

// Ctrl-C at the prompt: the line is dropped (^C is a key here, not a signal, so no race with the
// terminal's modes); el_gets returns it and the loop ignores it.
bool g_cancelled = false;
unsigned char cancel_line(EditLine*, int) {
  g_cancelled = true;
  std::printf("^C");
  return CC_NEWLINE;
}

std::string history_file() {
  const char* home = std::getenv("HOME");
  return home ? std::string(home) + "/.seegw_cli_history" : std::string();
}

// The terminal's own Ctrl-C signal is off while the shell waits for a line — ^C is then a key,
// with no window in which a signal could arrive while libedit switches modes — and on while a
// command runs, so Ctrl-C ends a `monitor log`.
termios g_terminal{};
bool g_have_terminal = false;
void terminal_signals(bool on) {
  if (!g_have_terminal) return;
  termios t = g_terminal;
  if (on)
    t.c_lflag |= ISIG;
  else
    t.c_lflag &= ~static_cast<tcflag_t>(ISIG);
  tcsetattr(STDIN_FILENO, TCSANOW, &t);
}

int interactive() {
  g_have_terminal = tcgetattr(STDIN_FILENO, &g_terminal) == 0;
  terminal_signals(false);
  EditLine* el = el_init("seegw-cli", stdin, stdout, stderr);
  History* hist = history_init();
  HistEvent ev;
  history(hist, &ev, H_SETSIZE, 1000);
  history(hist, &ev, H_SETUNIQUE, 1);
  const std::string file = history_file();
  if (!file.empty()) history(hist, &ev, H_LOAD, file.c_str());
  el_set(el, EL_EDITOR, "emacs");
  el_set(el, EL_PROMPT, prompt);
  el_set(el, EL_HIST, history, hist);
  el_set(el, EL_SIGNAL, 1);
  el_set(el, EL_ADDFN, "seegw-complete", "complete a command word", complete);
  el_set(el, EL_BIND, "^I", "seegw-complete", nullptr);
  el_set(el, EL_ADDFN, "seegw-help", "what may come next", help);
  el_set(el, EL_BIND, "?", "seegw-help", nullptr);
  el_set(el, EL_SETTY, "-d", "-isig", nullptr);  // while editing, ^C is a key...
  el_set(el, EL_ADDFN, "seegw-cancel", "drop the line", cancel_line);
  el_set(el, EL_BIND, "^C", "seegw-cancel", nullptr);  // ...that drops the line
  std::printf("seegw console. Tab completes, ? lists what may come next, 'exit' leaves.\n");
  // Ctrl-C abandons the line being typed (or a running command), never the shell: it is the
  // appliance's console, and a ForceCommand shell that exits logs the operator out.
  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigaction(SIGINT, &sa, nullptr);
  int status = 0;
  while (true) {
    int count = 0;
    g_interrupted = 0;
    g_cancelled = false;
    const char* line = el_gets(el, &count);
    if (g_cancelled || g_interrupted) {
      if (g_interrupted) std::printf("\n");
      el_reset(el);
      continue;
    }
    if (!line) break;
    std::string text(line, static_cast<std::size_t>(count));
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    auto words = console::split_words(text);
    if (!words) {
      std::fprintf(stderr, "%% %s\n", words.error().message.c_str());
      continue;
    }
    if (words->empty()) continue;
    history(hist, &ev, H_ENTER, text.c_str());
    if ((*words)[0] == "exit" || (*words)[0] == "quit") break;
    if ((*words)[0] == "help") {
      for (const auto& l : console::help_lines({})) std::printf("%s\n", l.c_str());
      continue;
    }
    terminal_signals(true);
    status = execute(*words);
    terminal_signals(false);
  }
  if (!file.empty()) {
    history(hist, &ev, H_SAVE, file.c_str());
    ::chmod(file.c_str(), 0600);
  }
  history_end(hist);
  el_end(el);
  if (g_have_terminal) tcsetattr(STDIN_FILENO, TCSANOW, &g_terminal);
  std::printf("\n");
  return status;
}

// Commands from a pipe or a file, one per line; the worst status wins.
int batch() {
  int worst = 0;
  std::string line;
  while (std::getline(std::cin, line)) {
    auto words = console::split_words(line);
    if (!words) {
      std::fprintf(stderr, "%% %s\n", words.error().message.c_str());
      worst = std::max(worst, 2);
      continue;
    }
    if (words->empty() || (*words)[0].starts_with("#")) continue;
    worst = std::max(worst, execute(*words));
  }
  return worst;
}

}  // namespace

int main(int argc, char** argv) {
  if (const char* s = std::getenv("SEEGW_CONTROL_SOCKET")) g_socket = s;
  if (const char* s = std::getenv("SEEGW_UPDATES_DIR")) g_updates = s;
  signal(SIGPIPE, SIG_IGN);
  // As a login shell: sshd runs `seegw-cli -c "show status"` for `ssh gw show status` (and
  // `-c "/bin/sh"` or `-c "scp -t ..."` for what an operator may not have: unknown commands).
  if (argc == 3 && std::strcmp(argv[1], "-c") == 0) {
    auto words = console::split_words(argv[2]);
    if (!words) {
      std::fprintf(stderr, "%% %s\n", words.error().message.c_str());
      return 2;
    }
    if (words->empty()) return ::isatty(STDIN_FILENO) ? interactive() : batch();
    return execute(*words);
  }
  std::vector<std::string> words;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (words.empty() && a == "--socket" && i + 1 < argc) {
      g_socket = argv[++i];
    } else if (words.empty() && a == "--json") {
      g_json = true;
    } else if (words.empty() && (a == "--help" || a == "-h")) {
      std::printf("usage: seegw-cli [--socket PATH] [--json] [COMMAND ...]\ncommands:\n");
      for (const auto& l : console::help_lines({})) std::printf("%s\n", l.c_str());
      return 0;
    } else {
      words.push_back(a);
    }
  }
  if (!words.empty()) return execute(words);
  return ::isatty(STDIN_FILENO) ? interactive() : batch();
}
