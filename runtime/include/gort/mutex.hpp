// Go's sync.Mutex and sync.RWMutex: locks that park goroutines.
//
// Mutex has Go's two modes. Normally a woken waiter competes with newly
// arriving goroutines, which usually win (they are already running): good
// throughput. A waiter that has waited over 1 ms switches the mutex to
// starvation mode, where unlock hands ownership straight to the first
// waiter and newcomers queue behind it, bounding everyone's wait.
//
// Both satisfy BasicLockable, so std::lock_guard and std::unique_lock work.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/runtime.hpp"

namespace gort {

class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    safepoint();
    int32_t expected = 0;
    if (state_.compare_exchange_strong(expected, kLocked, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock();
  // Unlocking an unlocked Mutex is a fatal error, as in Go.
  void unlock() {
    const int32_t next = state_.fetch_sub(kLocked, std::memory_order_release) - kLocked;
    if (next != 0) unlock_slow(next);
  }

 private:
  static constexpr int32_t kLocked = 1;
  static constexpr int32_t kWoken = 2;
  static constexpr int32_t kStarving = 4;
  static constexpr int kWaiterShift = 3;

  void lock_slow();
  void unlock_slow(int32_t next);

  // kLocked | kWoken | kStarving | waiters << kWaiterShift
  std::atomic<int32_t> state_{0};
  // A semaphore count; its waiters wait in the runtime's table, keyed by
  // this address (Go's sync.Mutex is these two words too).
  std::atomic<uint32_t> sema_{0};
};

class RWMutex {
 public:
  RWMutex() = default;
  RWMutex(const RWMutex&) = delete;
  RWMutex& operator=(const RWMutex&) = delete;

  void lock_shared();
  void unlock_shared();
  void lock();
  void unlock();

 private:
  static constexpr int32_t kMaxReaders = 1 << 30;

  Mutex writer_;                          // held by a pending or active writer
  std::atomic<uint32_t> writer_sema_{0};  // a writer waits here for readers to leave
  std::atomic<uint32_t> reader_sema_{0};  // readers wait here for the writer to leave
  std::atomic<int32_t> readers_{0};       // active readers, minus kMaxReaders while a writer is pending
  std::atomic<int32_t> readers_wait_{0};  // readers the pending writer still waits for
};

}  // namespace gort
