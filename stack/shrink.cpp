#include "stack/shrink.hpp"

#include <sys/mman.h>

#include "stack/advise.hpp"

namespace gort::stack {

namespace {

uintptr_t page_down(uintptr_t a) { return a & ~uintptr_t(kPageSize - 1); }

bool committed(uintptr_t page) {
  unsigned char resident = 0;
  return mincore(reinterpret_cast<void*>(page), kPageSize, &resident) == 0 && (resident & 1);
}

}  // namespace

bool shrinkable(const Stack& s, uintptr_t sp, iovec* release) {
  if (sp <= s.lo || sp > s.hi) return false;
  const uintptr_t live = s.hi - page_down(sp - kRedZone);  // whole pages
  if (4 * live + kPageSize > s.size()) return false;
  // Page 4*live below the top is the first one past four times the live
  // depth: committed only if the stack holds more than that.
  if (!committed(s.hi - 4 * live - kPageSize)) return false;
  const uintptr_t keep_from = s.hi - 2 * live;
  *release = {reinterpret_cast<void*>(s.lo), keep_from - s.lo};
  return true;
}

void release(iovec* ranges, size_t n) {
  if (n != 0) advise(ranges, n, MADV_DONTNEED);
}

}  // namespace gort::stack
