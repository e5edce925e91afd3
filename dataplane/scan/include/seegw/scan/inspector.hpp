// Scans a whole message: MIME structure, every text and attachment (via dataplane/extract),
// trigger matching on the logical text, and the classification of the message (TRG-1..4).
#pragma once

#include <string_view>

#include "seegw/extract/extractor.hpp"
#include "seegw/scan/classification.hpp"
#include "seegw/scan/matcher.hpp"

namespace seegw::scan {

ScanReport inspect_message(std::string_view raw, const Matcher& matcher,
                           const extract::Limits& limits = {});
// A single document or file (not a message), e.g. for `seegw scan` on a .docx.
ScanReport inspect_file(std::string_view bytes, std::string_view name, const Matcher& matcher,
                        const extract::Limits& limits = {});

// §1.2: is every part the scanner could not read an individual's encrypted S/MIME (and there is
// at least one)? Policy may let such content go, secured, where other unreadable content may not.
bool only_individual_smime(const ScanReport& report);

}  // namespace seegw::scan
