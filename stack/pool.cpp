#include "stack/pool.hpp"

#include <sys/mman.h>

#include "stack/space.hpp"

namespace gort::stack {

namespace {

void decommit(uintptr_t lo, uintptr_t hi) {
  if (hi > lo) madvise(reinterpret_cast<void*>(lo), hi - lo, MADV_DONTNEED);
}

}  // namespace

Pool& Pool::get() {
  static Pool* pool = new Pool;  // outlives every thread; never destroyed
  return *pool;
}

void Pool::take(Stack* out, size_t n) {
  size_t got = 0;
  {
    sched::LockGuard g(lock_);
    while (got < n && !warm_.empty()) {
      out[got++] = warm_.back();
      warm_.pop_back();
    }
    while (got < n && !cold_.empty()) {
      out[got++] = cold_.back();
      cold_.pop_back();
    }
  }
  while (got < n) out[got++] = Space::get().carve();
}

void Pool::give(const Stack* in, size_t n) {
  // Trim outside the lock: madvise is a system call.
  size_t warm_room;
  {
    sched::LockGuard g(lock_);
    warm_room = warm_.size() < kMaxWarm ? kMaxWarm - warm_.size() : 0;
  }
  const size_t nwarm = n < warm_room ? n : warm_room;
  for (size_t i = 0; i < n; ++i) {
    const uintptr_t keep_from = i < nwarm ? in[i].hi - kPageSize : in[i].hi;
    decommit(in[i].lo, keep_from);
  }
  sched::LockGuard g(lock_);
  for (size_t i = 0; i < n; ++i) (i < nwarm ? warm_ : cold_).push_back(in[i]);
}

size_t Pool::warm() const {
  sched::LockGuard g(lock_);
  return warm_.size();
}

size_t Pool::cold() const {
  sched::LockGuard g(lock_);
  return cold_.size();
}

void Cache::refill() {
  Pool::get().take(slots_.data(), kCapacity / 2);
  n_ = kCapacity / 2;
}

void Cache::drain(size_t count) {
  n_ -= count;
  Pool::get().give(&slots_[n_], count);
}

}  // namespace gort::stack
