// A goroutine semaphore (Go's runtime/sema.go): the one blocking primitive
// under Mutex, RWMutex and WaitGroup. acquire() parks the goroutine while
// the count is zero; release() wakes one waiter, optionally handing it the
// count directly and yielding to it (used by a starving Mutex).
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/detail/lock.hpp"
#include "gort/detail/waitqueue.hpp"

namespace gort::sched {

class Sema {
 public:
  // lifo puts this waiter at the front of the queue (a Mutex waiter that
  // was woken and lost the race goes back first in line).
  void acquire(bool lifo = false);
  // Adds n to the count and wakes up to n waiters.
  void release(uint32_t n = 1, bool handoff = false);

  // Waits until no release() is still touching this semaphore. Whoever
  // acquired it may free it afterwards: Go has a collector to make that
  // safe, C++ needs this. Called by acquire() before it returns.
  void wait_quiescent() const;

 private:
  bool try_acquire() {
    uint32_t v = count_.load(std::memory_order_relaxed);
    while (v > 0)
      if (count_.compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
    return false;
  }
  void acquire_slow(bool lifo);

  std::atomic<uint32_t> releasers_{0};
  std::atomic<uint32_t> count_{0};
  std::atomic<uint32_t> nwait_{0};
  Lock lock_;
  WaitQueue waiters_;
};

}  // namespace gort::sched
