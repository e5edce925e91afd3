// The SEEMail trigger words and the classification they give a message (rules TRG-1, TRG-3).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace seegw::scan {

// Ordered: a message's classification is the highest level found (TRG-3).
enum class Classification { none, in_confidence, sensitive, restricted };

enum class Trigger { seemail, in_confidence, sensitive, restricted };

// Plain [SEEMAIL] counts as IN-CONFIDENCE.
Classification level_of(Trigger trigger);
std::string_view classification_name(Classification c);  // "NONE", "IN-CONFIDENCE", ...
std::string_view trigger_name(Trigger t);                // "SEEMAIL", "IN CONFIDENCE", ...
// "none", "in-confidence", "sensitive", "restricted" (any case, '_' or '-' or ' ').
std::optional<Classification> classification_from_name(std::string_view name);

struct TriggerHit {
  Trigger trigger;
  std::string where;   // header, part path, attachment file name, container path
  std::size_t offset;  // in the logical text of that place
  std::string text;    // the matched text as written, e.g. "{Restricted]"
};

struct Uninspectable {
  std::string where;
  std::string reason;
};

// Everything a scan found out about one message (TRG-2..4).
struct ScanReport {
  Classification classification = Classification::none;
  std::vector<TriggerHit> hits;
  std::vector<Uninspectable> uninspectable;
  std::vector<std::string> problems;  // structural errors that did not stop the scan
};

}  // namespace seegw::scan
