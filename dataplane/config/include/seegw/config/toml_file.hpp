// TOML files read whole and parsed without exceptions escaping: a syntax error becomes an
// Errc::config error naming the file and line, as every configuration file here reports them.
#pragma once

#include <toml++/toml.h>

#include <filesystem>
#include <string_view>

#include "seegw/common/error.hpp"

namespace seegw::config {

// `what` names the text in messages ("config", or the file's path).
Result<toml::table> parse_toml(std::string_view text, std::string_view what);
Result<toml::table> parse_toml_file(const std::filesystem::path& file);

}  // namespace seegw::config
