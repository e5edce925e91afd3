// libFuzzer target: the MIME parser and header decoders on arbitrary bytes.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "seegw/mime/codec.hpp"
#include "seegw/mime/message.hpp"

namespace {
void walk(const seegw::mime::Part& p) {
  (void)p.decoded_body();
  for (const auto& c : p.children) walk(c);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  auto m = seegw::mime::parse(raw);
  walk(m.root);
  for (const auto& h : m.root.headers) (void)seegw::mime::decode_header_words(h.value);
  (void)seegw::mime::decode_rfc2231(raw.substr(0, 256));
  return 0;
}
