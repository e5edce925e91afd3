#include "seegw/common/memory.hpp"

#include <malloc.h>

namespace seegw::memory {

void keep_freed_message_buffers() {
  // Below 32 MiB from the heap, not from mmap (a fixed threshold also stops glibc moving it);
  // up to 128 MiB free at the heap's top before it is given back.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 128 << 20);
}

}  // namespace seegw::memory
