#include "common/allocator.h"

#include <malloc.h>

namespace httptrace {

void TuneAllocator() {
  mallopt(M_MMAP_THRESHOLD, 4 << 20);
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
}

}  // namespace httptrace
