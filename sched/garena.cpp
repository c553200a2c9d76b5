#include "sched/garena.hpp"

#include <new>

#include "runtime/internal/fatal.hpp"
#include "runtime/internal/sysmem.hpp"
#include "sched/debugger.hpp"

namespace gort::sched {

GArena& GArena::get() {
  static GArena arena;
  return arena;
}

G* GArena::alloc() {
  internal::LockGuard l(lock_);
  if (!base_) {
    base_ = static_cast<char*>(internal::reserve(kReserveBytes, "goroutine records"));
    publish_allg(base_, &count_);
  }
  const size_t n = count_.load(std::memory_order_relaxed);
  if ((n + 1) * kStride > kReserveBytes)
    internal::fatal("runtime: more than ", kReserveBytes / kStride, " goroutines alive");
  G* g = new (base_ + n * kStride) G;
  count_.store(n + 1, std::memory_order_release);
  return g;
}

}  // namespace gort::sched
