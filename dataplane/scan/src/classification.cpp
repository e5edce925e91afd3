#include "seegw/scan/classification.hpp"

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
