#include "seegw/smtp/envelope.hpp"

namespace seegw::smtp {

std::string_view body_type_name(BodyType type) {
  switch (type) {
    case BodyType::seven_bit:
      return "7BIT";
    case BodyType::eight_bit_mime:
      return "8BITMIME";
    case BodyType::binary_mime:
      return "BINARYMIME";
  }
  return "7BIT";
}

}  // namespace seegw::smtp
