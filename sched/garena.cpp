#include "sched/garena.hpp"

#include <sys/mman.h>

#include <new>

#include "runtime/internal/fatal.hpp"
#include "runtime/internal/sysmem.hpp"

namespace gort::sched {

GArena& GArena::get() {
  static GArena arena;
  return arena;
}

G* GArena::alloc() {
  constexpr size_t kStride = (sizeof(G) + 63) & ~size_t(63);  // no false sharing
  internal::LockGuard l(lock_);
  if (!base_) base_ = static_cast<char*>(internal::reserve(kReserveBytes, "goroutine records"));
  if (used_ + kStride > kReserveBytes)
    internal::fatal("runtime: more than ", kReserveBytes / kStride, " goroutines alive");
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
