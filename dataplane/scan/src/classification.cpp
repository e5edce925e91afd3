#include "seegw/scan/classification.hpp"

#include <cctype>
#include <string>

namespace seegw::scan {

Classification level_of(Trigger t) {
  switch (t) {
    case Trigger::seemail:
    case Trigger::in_confidence:
      return Classification::in_confidence;
    case Trigger::sensitive:
      return Classification::sensitive;
    case Trigger::restricted:
      return Classification::restricted;
  }
  return Classification::restricted;  // unreachable; fail closed
}

std::string_view classification_name(Classification c) {
  switch (c) {
    case Classification::none:
      return "NONE";
    case Classification::in_confidence:
      return "IN-CONFIDENCE";
    case Classification::sensitive:
      return "SENSITIVE";
    case Classification::restricted:
      return "RESTRICTED";
  }
  return "RESTRICTED";
}

std::optional<Classification> classification_from_name(std::string_view name) {
  std::string n;
  for (char c : name)
    n.push_back(c == '_' || c == ' '
                    ? '-'
                    : static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  if (n == "none") return Classification::none;
  if (n == "in-confidence") return Classification::in_confidence;
  if (n == "sensitive") return Classification::sensitive;
  if (n == "restricted") return Classification::restricted;
  return std::nullopt;
}

std::string_view trigger_name(Trigger t) {
  switch (t) {
    case Trigger::seemail:
      return "SEEMAIL";
    case Trigger::in_confidence:
      return "IN CONFIDENCE";
    case Trigger::sensitive:
      return "SENSITIVE";
    case Trigger::restricted:
      return "RESTRICTED";
  }
  return "?";
}

}  // namespace seegw::scan
