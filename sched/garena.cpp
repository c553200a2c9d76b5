#include "sched/garena.hpp"

#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <new>

namespace gort::sched {

GArena& GArena::get() {
  static GArena arena;
  return arena;
}

G* GArena::alloc() {
  constexpr size_t kStride = (sizeof(G) + 63) & ~size_t(63);  // no false sharing
  internal::LockGuard l(lock_);
  if (!base_) {
    void* p = mmap(nullptr, kReserveBytes, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) {
      std::perror("fatal error: gort: reserving G records");
      std::abort();
    }
    base_ = static_cast<char*>(p);
  }
  if (used_ + kStride > kReserveBytes) {
    std::fprintf(stderr, "fatal error: gort: more than %zu goroutines alive\n", kReserveBytes / kStride);
    std::abort();
  }
  G* g = new (base_ + used_) G;
  used_ += kStride;
  return g;
}

void GArena::reset() {
  internal::LockGuard l(lock_);
  if (base_ && used_ > 0) madvise(base_, used_, MADV_DONTNEED);  // zero again on next touch
  used_ = 0;
}

}  // namespace gort::sched
