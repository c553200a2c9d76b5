// Runtime lock: a mutex that blocks the *thread*, never a goroutine.
//
// The scheduler, channels, timers and semaphores protect their short critical
// sections with it, as Go's runtime uses lock/unlock (lock_futex.go). It is
// safe to use from g0 and from goroutines alike. A goroutine parking on a
// channel hands the channel lock to whoever lands after its switch (g0, or
// the next goroutine on the same thread), which releases it only after the
// goroutine's context is saved: always the thread that took it, which the
// checked builds verify.
//
// Three states (Drepper, "Futexes are tricky"): 0 unlocked, 1 locked,
// 2 locked with possible sleepers. A short spin first, because critical
// sections are a few dozen instructions and the holder is usually running.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/detail/locks_held.hpp"
#include "runtime/internal/check.hpp"

namespace gort::internal {

// Runtime locks held by this thread, plus sections that must not be stopped
// halfway (the allocator): the stop-the-world signal never parks a thread
// while this is non-zero, so a stopped thread never holds a lock that the
// collector needs (Go's m.locks).
//
// Always a call, never inlined: a goroutine that parks may wake on another
// thread, and GCC keeps the address of a thread-local (the thread pointer
// it came from) across calls within a function - after a park it would
// count on the thread the goroutine left. A plain thread-local underneath,
// so the signal handler may read it too.
int& locks_held();

// locks_held() += delta, for the hot paths (every lock, every switch, every
// allocation): gort/detail/locks_held.hpp's one add relative to %fs.
inline void add_locks_held(int delta) { detail::add_locks_held(delta); }

class Lock {
 public:
  void lock() {
    uint32_t expected = 0;
    add_locks_held(1);
    if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) lock_slow();
    set_owner(this_thread());
  }

  bool try_lock() {
    uint32_t expected = 0;
    if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return false;
    add_locks_held(1);
    set_owner(this_thread());
    return true;
  }

  void unlock() {
    GORT_CHECK(held_by_this_thread(), "a runtime lock is released by the thread that holds it");
    set_owner(nullptr);
    if (state_.exchange(0, std::memory_order_release) == 2) wake_one();
    add_locks_held(-1);
  }

  // Checked builds only (always true elsewhere): does this thread hold it?
  bool held_by_this_thread() const {
#if GORT_CHECKS
    return owner_.load(std::memory_order_relaxed) == this_thread();
#else
    return true;
#endif
  }

 private:
  // The address of a thread-local is a cheap thread identity.
  static const void* this_thread() { return &locks_held(); }
  void set_owner([[maybe_unused]] const void* owner) {
#if GORT_CHECKS
    owner_.store(owner, std::memory_order_relaxed);
#endif
  }
  void lock_slow();
  void wake_one();
  std::atomic<uint32_t> state_{0};
#if GORT_CHECKS
  std::atomic<const void*> owner_{nullptr};
#endif
};

// Go's assertLockHeld: the caller's promise that it holds l, checked.
inline void assert_lock_held([[maybe_unused]] const Lock& l) {
  GORT_CHECK(l.held_by_this_thread(), "the caller holds the lock");
}

// Scoped holder for the common case of one lock in one scope.
class LockGuard {
 public:
  explicit LockGuard(Lock& l) : l_(l) { l_.lock(); }
  ~LockGuard() { l_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Lock& l_;
};

}  // namespace gort::internal
