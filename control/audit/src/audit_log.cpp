#include "seegw/audit/audit_log.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <fmt/format.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "seegw/common/file.hpp"

namespace seegw::audit {
namespace {

using Json = nlohmann::json;

std::filesystem::path head_path(const std::filesystem::path& log) {
  auto p = log;
  p += ".head";
  return p;
}

std::string sha256_hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += fmt::format("{:02x}", md[i]);
  return out;
}

// The fields a record's hash covers, in a canonical form (nlohmann orders keys), the previous
// record's hash among them.
Json body(const AuditEntry& e, const std::string& prev) {
  return Json{{"seq", e.seq},   {"time", e.time},       {"uid", e.uid}, {"user", e.user},
              {"role", e.role}, {"command", e.command}, {"prev", prev}, {"outcome", e.outcome}};
}

std::string hash_of(const AuditEntry& e, const std::string& prev) {
  return sha256_hex(body(e, prev).dump());
}

std::optional<std::pair<AuditEntry, std::string>> parse_line(const std::string& line) {
  Json j = Json::parse(line, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  try {
    AuditEntry e;
    e.seq = j.at("seq").get<std::uint64_t>();
    e.time = j.at("time").get<std::int64_t>();
    e.uid = j.at("uid").get<std::uint32_t>();
    e.user = j.at("user").get<std::string>();
    e.role = j.at("role").get<std::string>();
    e.command = j.at("command").get<std::string>();
    e.outcome = j.at("outcome").get<std::string>();
    e.hash = j.at("hash").get<std::string>();
    return std::pair{std::move(e), j.at("prev").get<std::string>()};
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

}  // namespace

std::string genesis_hash() { return std::string(64, '0'); }

Result<std::unique_ptr<AuditLog>> AuditLog::open(const std::filesystem::path& path) {
  std::unique_ptr<AuditLog> log(new AuditLog());
  log->path_ = path;
  log->last_hash_ = genesis_hash();
  // O_APPEND: every write lands at the end, whatever else has the file open.
  log->fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log->fd_ < 0) return fail_errno("open audit log " + path.string());
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  auto lines = lines_of(*text);
  for (auto it = lines.rbegin(); it != lines.rend(); ++it) {
    if (auto parsed = parse_line(*it)) {
      log->last_seq_ = parsed->first.seq;
      log->last_hash_ = parsed->first.hash;
      break;
    }
  }
  return log;
}

AuditLog::~AuditLog() {
  if (fd_ >= 0) ::close(fd_);
}

Result<AuditEntry> AuditLog::append(AuditEntry e) {
  std::lock_guard lock(mutex_);
  e.seq = last_seq_ + 1;
  if (e.time == 0) e.time = std::time(nullptr);
  e.hash = hash_of(e, last_hash_);
  Json j = body(e, last_hash_);
  j["hash"] = e.hash;
  const std::string line = j.dump() + "\n";
  std::size_t off = 0;
  while (off < line.size()) {
    ssize_t n = ::write(fd_, line.data() + off, line.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return fail_errno("write audit log " + path_.string());
    off += static_cast<std::size_t>(n);
  }
  if (::fdatasync(fd_) != 0) return fail_errno("sync audit log " + path_.string());
  last_seq_ = e.seq;
  last_hash_ = e.hash;
  if (auto w = write_file_atomically(head_path(path_), fmt::format("{} {}\n", e.seq, e.hash)); !w)
    return std::unexpected(w.error());
  return e;
}

AuditVerification verify_audit_log(const std::filesystem::path& path) {
  AuditVerification v;
  auto text = read_file(path);
  if (!text) {
    v.problem = text.error().message;
    return v;
  }
  std::string prev = genesis_hash();
  std::uint64_t seq = 0;
  auto lines = lines_of(*text);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    v.bad_line = i + 1;
    auto parsed = parse_line(lines[i]);
    if (!parsed) {
      v.problem = fmt::format("line {} is not an audit record", i + 1);
      return v;
    }
    auto& [e, link] = *parsed;
    if (e.seq != seq + 1) {
      v.problem = fmt::format(
          "line {}: record {} follows record {} (a record is missing or was "
          "moved)",
          i + 1, e.seq, seq);
      return v;
    }
    if (link != prev) {
      v.problem =
          fmt::format("line {}: record {} does not link to the record before it", i + 1, e.seq);
      return v;
    }
    if (hash_of(e, link) != e.hash) {
      v.problem = fmt::format("line {}: record {} was changed after it was written", i + 1, e.seq);
      return v;
    }
    prev = e.hash;
    seq = e.seq;
    ++v.records;
  }
  v.bad_line = 0;
  if (auto head = read_file(head_path(path))) {
    std::uint64_t head_seq = 0;
    char head_hash[65] = {};
    if (std::sscanf(head->c_str(), "%lu %64s", &head_seq, head_hash) != 2 || head_seq != seq ||
        prev != head_hash) {
      v.problem = fmt::format(
          "the log ends at record {}, but record {} was written (the end of "
          "the log was cut off or replaced)",
          seq, head_seq);
      return v;
    }
  } else if (seq != 0) {
    v.problem = "the head file " + head_path(path).string() + " is missing";
    return v;
  }
  v.intact = true;
  return v;
}

Result<std::vector<AuditEntry>> read_audit_log(const std::filesystem::path& path,
                                               std::size_t count) {
  auto text = read_file(path);
  if (!text) return std::unexpected(text.error());
  std::vector<AuditEntry> out;
  for (auto& line : lines_of(*text))
    if (auto parsed = parse_line(line)) out.push_back(std::move(parsed->first));
  if (out.size() > count) out.erase(out.begin(), out.end() - static_cast<std::ptrdiff_t>(count));
  return out;
}

}  // namespace seegw::audit
