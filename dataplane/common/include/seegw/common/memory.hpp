// Process-wide memory behaviour of the data plane.
#pragma once

namespace seegw::memory {

// Keeps freed message buffers in the heap for the next message. A secure message is built in
// buffers a few times its size (the signed entity, its DER, the base64 of the envelope); glibc
// hands such buffers back to the kernel when they are freed and the next message faults them in
// again page by page, which cost more than the cryptography (bench/crypto, 1 MiB sign+encrypt
// through a remote HSM: 35 ms CPU before, 4.6 ms after). Call once at start, before threads.
// What stays is bounded by the largest messages in flight at once, which the SMTP limits bound.
void keep_freed_message_buffers();

}  // namespace seegw::memory
