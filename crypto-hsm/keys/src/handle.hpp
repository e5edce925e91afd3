// The HSM session with our key and certificate; replaced whole when the token comes back.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "seegw/keys/key_service.hpp"

namespace seegw::keys {

struct KeyService::Handle {
  std::unique_ptr<pkcs11::Hsm> hsm;
  std::string label;                   // of the key pair that signs
  std::optional<std::time_t> created;  // its CKA_START_DATE, when the token has one
  EVP_PKEY* key = nullptr;
  x509::Certificate certificate;
  // Every other key pair in the token with a certificate: it still decrypts until retired.
  std::vector<std::pair<EVP_PKEY*, x509::Certificate>> earlier;
};

}  // namespace seegw::keys
