#include "seegw/common/file.hpp"

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

}  // namespace seegw
