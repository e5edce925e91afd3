// libFuzzer target: the SMTP server engine fed arbitrary bytes in arbitrary chunks.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "seegw/smtp/server_session.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  seegw::smtp::ServerOptions o;
  o.hostname = "fuzz";
  o.starttls_available = true;
  o.is_local_domain = [](std::string_view d) { return d == "a.b"; };
  o.limits.max_message_bytes = 4096;
  seegw::smtp::ServerSession s(o, "192.0.2.1", 1, size % 2 == 0);
  s.greet();
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::size_t chunk = size > 0 ? 1 + data[0] % 64 : 1;
  while (!in.empty()) {
    s.feed(in.substr(0, chunk));
    in.remove_prefix(std::min(chunk, in.size()));
    (void)s.take_output();
    switch (s.event()) {
      case seegw::smtp::Event::message_ready:
        (void)s.take_message();
        s.message_stored(std::string("Q"));
        break;
      case seegw::smtp::Event::start_tls:
        s.tls_started({"TLSv1.3", "x"});
        break;
      case seegw::smtp::Event::close:
        return 0;
      case seegw::smtp::Event::none:
        break;
    }
  }
  return 0;
}
