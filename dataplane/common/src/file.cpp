#include "seegw/common/file.hpp"

#include <fmt/format.h>

#include <sys/stat.h>

#include <fstream>
#include <sstream>

namespace seegw {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail_errno("cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return fail_errno("cannot read " + path);
  return ss.str();
}

Result<std::string> read_secret_file(const std::string& path, std::string_view what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return fail_errno(fmt::format("{} {}", what, path));
  if (st.st_mode & (S_IRWXG | S_IRWXO))
    return fail(Errc::config, fmt::format("{} {} is readable by group or others (mode {:o}); "
                                          "chmod 600 it",
                                          what, path, st.st_mode & 0777));
  std::ifstream in(path);
  std::string secret;
  std::getline(in, secret);
  if (secret.empty()) return fail(Errc::config, fmt::format("{} {} is empty", what, path));
  return secret;
}

Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view bytes) {
  std::error_code ec;
  std::filesystem::create_directories(path.parent_path(), ec);
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    out.flush();
    if (!out) return fail(Errc::io, "cannot write " + tmp.string());
  }
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    return fail(Errc::io, fmt::format("cannot rename {} into place", tmp.string()));
  }
  return {};
}

}  // namespace seegw
