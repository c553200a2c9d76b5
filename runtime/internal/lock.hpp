// Runtime lock: a mutex that blocks the *thread*, never a goroutine.
//
// The scheduler, channels, timers and semaphores protect their short critical
// sections with it, as Go's runtime uses lock/unlock (lock_futex.go). It is
// safe to use from g0 and from goroutines alike, and it can be released by a
// different thread than the one that took it: a goroutine parking on a
// channel hands the channel lock to g0, which releases it only after the
// goroutine's context is saved.
//
// It lives among the public headers only because public synchronisation
// types (Mutex, WaitGroup, ...) embed one; it is not part of the API.
//
// Three states (Drepper, "Futexes are tricky"): 0 unlocked, 1 locked,
// 2 locked with possible sleepers. A short spin first, because critical
// sections are a few dozen instructions and the holder is usually running.
#pragma once

#include <atomic>
#include <cstdint>


namespace gort::internal {

// Runtime locks held by this thread, plus sections that must not be stopped
// halfway (the allocator): the stop-the-world signal never parks a thread
// while this is non-zero, so a stopped thread never holds a lock that the
// collector needs (Go's m.locks). A plain __thread int, so that reading it
// is one instruction even from a signal handler.
extern __thread int locks_held;

class Lock {
 public:
  void lock() {
    uint32_t expected = 0;
    ++locks_held;
    if (state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return;
    lock_slow();
  }

  bool try_lock() {
    uint32_t expected = 0;
    if (!state_.compare_exchange_strong(expected, 1, std::memory_order_acquire)) return false;
    ++locks_held;
    return true;
  }

  void unlock() {
    if (state_.exchange(0, std::memory_order_release) == 2) wake_one();
    --locks_held;
  }

 private:
  void lock_slow();
  void wake_one();
  std::atomic<uint32_t> state_{0};
};

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
