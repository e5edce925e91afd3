// Secure Government Email's own parsers on any bytes: DKIM signing (the relaxed
// canonicalisations, the signed-field walk, the field assembly) keeps the RFC's invariants — a
// canonical body is empty or ends in one CRLF with no empty line before it, the signed data ends
// with the signature field's empty b= — and DNS record text (TXT and MX RDATA, tag lists) and
// MTA-STS policies are read without a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "seegw/dkim/signature.hpp"
#include "seegw/dns/records.hpp"
#include "seegw/sts/policy.hpp"

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
  const std::string text = seegw::dns::txt_rdata_text(message);
  if (text.size() >= size && size > 0) std::abort();  // each string costs a length byte
  for (const auto& [name, value] : seegw::dns::tag_list(message))
    if (name.empty() || name.find(';') != std::string::npos) std::abort();
  if (auto mx = seegw::dns::mx_rdata(message); mx && mx->exchange.size() > 253) std::abort();
  (void)seegw::dns::address_rdata(message);
  if (auto policy = seegw::sts::parse_policy(message)) {
    if (policy->max_age.count() > 31557600) std::abort();
    (void)seegw::sts::allows(*policy, "mx.example.org");
  }
  (void)seegw::sts::record_id(message);
  return 0;
}
