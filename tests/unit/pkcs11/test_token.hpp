// A real SoftHSM2 token made for one test process (never committed): its own token directory and
// SOFTHSM2_CONF, random PINs, the user PIN in an owner-only file. Tests that need it skip when
// softhsm2-util is not installed.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include "seegw/pkcs11/hsm.hpp"

namespace seegw::test_token {

inline bool softhsm_installed() {
  return std::filesystem::exists("/usr/lib/softhsm/libsofthsm2.so") &&
         std::system("command -v softhsm2-util >/dev/null 2>&1") == 0;
}

// The token "unit" in a fresh directory; config() opens it. Removed when it goes.
class Token {
 public:
  Token() {
    dir_ = std::filesystem::temp_directory_path() / ("seegw-token-" + std::to_string(::getpid()) +
                                                     "-" + std::to_string(std::random_device{}()));
    std::filesystem::create_directories(dir_ / "tokens");
    std::ofstream(dir_ / "softhsm2.conf") << "directories.tokendir = " << (dir_ / "tokens").string()
                                          << "\nobjectstore.backend = file\nlog.level = ERROR\n";
    ::setenv("SOFTHSM2_CONF", (dir_ / "softhsm2.conf").c_str(), 1);
    const std::string pin = random_pin(), so_pin = random_pin();
    const auto pin_file = dir_ / "user.pin";
    std::ofstream(pin_file) << pin << "\n";
    std::filesystem::permissions(
        pin_file, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    const std::string init = "softhsm2-util --init-token --free --label unit --so-pin " + so_pin +
                             " --pin " + pin + " >/dev/null";
    ready_ = std::system(init.c_str()) == 0;
  }
  ~Token() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  bool ready() const { return ready_; }
  pkcs11::HsmConfig config() const {
    return {"/usr/lib/softhsm/libsofthsm2.so", "unit", (dir_ / "user.pin").string()};
  }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  static std::string random_pin() {
    std::random_device rd;
    std::string pin;
    for (int i = 0; i < 12; ++i) pin += "0123456789abcdef"[rd() % 16];
    return pin;
  }
  std::filesystem::path dir_;
  bool ready_ = false;
};

}  // namespace seegw::test_token
