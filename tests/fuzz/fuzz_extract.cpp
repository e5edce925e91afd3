// libFuzzer target: every extractor (dispatch by magic bytes: zip/OOXML, OLE2, PDF, RTF, TNEF,
// HTML, text) and the message walker, on arbitrary bytes.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>

#include "seegw/extract/extractor.hpp"

namespace {
struct CountingSink : seegw::extract::ContentSink {
  std::size_t bytes = 0;
  void text(const std::string&, std::string_view utf8) override { bytes += utf8.size(); }
  void uninspectable(const std::string&, std::string_view) override {}
};
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  seegw::extract::Limits limits;
  limits.time_budget = std::chrono::milliseconds(2000);
  limits.max_expanded_bytes = 64u << 20;
  CountingSink sink;
  seegw::extract::extract_file(bytes, "fuzz", sink, limits);
  seegw::extract::extract_message(bytes, sink, limits);
  return 0;
}
