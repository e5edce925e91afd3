// The SMTP envelope of one message: who handed it to us, how, and for whom. Kept with the
// message in the spool; later stages (direction, policy, notifications) read it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace seegw::smtp {

enum class BodyType { seven_bit, eight_bit_mime, binary_mime };

struct Envelope {
  std::string client_address;  // textual IP of the peer that delivered it
  std::uint16_t client_port = 0;
  bool client_internal = false;  // the peer is in our internal networks (outbound mail)
  std::string helo;
  bool esmtp = false;
  bool tls = false;
  std::string tls_protocol;  // e.g. "TLSv1.3"
  std::string tls_cipher;
  std::string mail_from;  // empty for the null reverse-path <>
  std::vector<std::string> rcpt_to;
  BodyType body_type = BodyType::seven_bit;
};

std::string_view body_type_name(BodyType type);

}  // namespace seegw::smtp
