// DKIM signing over any message: the relaxed canonicalisations, the signed-field walk and the
// field assembly never crash, and what they produce keeps the RFC's invariants — a canonical body
// is empty or ends in one CRLF with no empty line before it, and the signed data ends with the
// signature field's empty b=.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seegw/dkim/signature.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view message(reinterpret_cast<const char*>(data), size);
  const std::string body = seegw::dkim::relaxed_body(message);
  if (!body.empty() && (!body.ends_with("\r\n") || body.ends_with("\r\n\r\n") || body == "\r\n"))
    std::abort();
  const auto algorithm =
      size % 2 ? seegw::dkim::Algorithm::ed25519_sha256 : seegw::dkim::Algorithm::rsa_sha256;
  const auto u = seegw::dkim::prepare(message, {"agency-a.govt.nz", "s", algorithm, 1});
  if (!u.signed_data.ends_with("b=")) std::abort();
  const std::string field = seegw::dkim::signature_field(u, std::string(64, 's'));
  if (!field.ends_with("\r\n")) std::abort();
  return 0;
}
