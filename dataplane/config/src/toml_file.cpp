#include "seegw/config/toml_file.hpp"

#include <fmt/format.h>

#include "seegw/common/file.hpp"

namespace seegw::config {

Result<toml::table> parse_toml(std::string_view text, std::string_view what) {
  try {
    return toml::parse(text);
  } catch (const toml::parse_error& e) {
    return fail(Errc::config,
                fmt::format("{} line {}: {}", what, e.source().begin.line, e.description()));
  }
}

Result<toml::table> parse_toml_file(const std::filesystem::path& file) {
  auto text = read_file(file);
  if (!text) return std::unexpected(text.error());
  return parse_toml(*text, file.string());
}

}  // namespace seegw::config
