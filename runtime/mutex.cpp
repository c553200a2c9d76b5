// Mutex and RWMutex, after Go's sync/mutex.go and sync/rwmutex.go.
#include "gort/mutex.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/sched.hpp"
#include "sched/sema.hpp"

namespace gort {

namespace {

constexpr int64_t kStarvationThresholdNs = 1000000;

void spin_a_little() {
  for (int i = 0; i < 30; ++i) __builtin_ia32_pause();
}

}  // namespace

bool Mutex::try_lock() {
  int32_t old = state_.load(std::memory_order_relaxed);
  if (old & (kLocked | kStarving)) return false;
  return state_.compare_exchange_strong(old, old | kLocked, std::memory_order_acquire);
}

void Mutex::lock_slow() {
  int64_t wait_start = 0;
  bool starving = false;
  bool awoke = false;
  int iter = 0;
  int32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Spin while it is held in normal mode and spinning can pay off; tell
    // unlock (via kWoken) not to wake a sleeper since we are about to take it.
    if ((old & (kLocked | kStarving)) == kLocked && sched::can_spin(iter)) {
      if (!awoke && !(old & kWoken) && (old >> kWaiterShift) != 0 &&
          state_.compare_exchange_strong(old, old | kWoken, std::memory_order_relaxed))
        awoke = true;
      spin_a_little();
      ++iter;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    int32_t next = old;
    if (!(old & kStarving)) next |= kLocked;  // in starvation mode, newcomers queue
    if (old & (kLocked | kStarving)) next += 1 << kWaiterShift;
    if (starving && (old & kLocked)) next |= kStarving;
    if (awoke) next &= ~kWoken;
    if (state_.compare_exchange_strong(old, next, std::memory_order_acquire)) {
      if (!(old & (kLocked | kStarving))) return;  // took it
      // A waiter that was woken and lost goes back to the front of the line.
      const bool lifo = wait_start != 0;
      if (wait_start == 0) wait_start = internal::nanotime();
      sched::semacquire(&sema_, lifo, "sync.Mutex.Lock");
      starving = starving || internal::nanotime() - wait_start > kStarvationThresholdNs;
      old = state_.load(std::memory_order_relaxed);
      if (old & kStarving) {
        // Ownership was handed to us directly; fix up the state for it.
        int32_t delta = kLocked - (1 << kWaiterShift);
        if (!starving || (old >> kWaiterShift) == 1) delta -= kStarving;  // leave starvation mode
        state_.fetch_add(delta, std::memory_order_acquire);
        return;
      }
      awoke = true;
      iter = 0;
    } else {
      old = state_.load(std::memory_order_relaxed);
    }
  }
}

void Mutex::unlock_slow(int32_t next) {
  if (!((next + kLocked) & kLocked)) internal::fatal("sync: unlock of unlocked mutex");
  if (next & kStarving) {
    // Hand ownership to the next waiter and let it run at once.
    sched::semrelease(&sema_, 1, true);
    return;
  }
  int32_t old = next;
  for (;;) {
    // No waiters, or somebody already woke/took it: nothing to do.
    if ((old >> kWaiterShift) == 0 || (old & (kLocked | kWoken | kStarving))) return;
    const int32_t woken = (old - (1 << kWaiterShift)) | kWoken;
    if (state_.compare_exchange_strong(old, woken, std::memory_order_release)) {
      sched::semrelease(&sema_, 1, false);
      return;
    }
  }
}

void RWMutex::lock_shared() {
  if (readers_.fetch_add(1, std::memory_order_acquire) + 1 < 0)
    sched::semacquire(&reader_sema_, false, "sync.RWMutex.RLock");
}

void RWMutex::unlock_shared() {
  const int32_t r = readers_.fetch_sub(1, std::memory_order_release) - 1;
  if (r >= 0) return;
  if (r + 1 == 0 || r + 1 == -kMaxReaders) internal::fatal("sync: RUnlock of unlocked RWMutex");
  // A writer is pending; the last reader it waits for wakes it.
  if (readers_wait_.fetch_sub(1, std::memory_order_acq_rel) - 1 == 0) sched::semrelease(&writer_sema_, 1, false);
}

void RWMutex::lock() {
  writer_.lock();
  // Announce the writer to new readers, then wait for the active ones.
  const int32_t active = readers_.fetch_sub(kMaxReaders, std::memory_order_acq_rel);
  if (active != 0 && readers_wait_.fetch_add(active, std::memory_order_acq_rel) + active != 0)
    sched::semacquire(&writer_sema_, false, "sync.RWMutex.Lock");
}

void RWMutex::unlock() {
  const int32_t r = readers_.fetch_add(kMaxReaders, std::memory_order_release) + kMaxReaders;
  if (r >= kMaxReaders) internal::fatal("sync: Unlock of unlocked RWMutex");
  if (r > 0) sched::semrelease(&reader_sema_, uint32_t(r), false);
  writer_.unlock();
}

}  // namespace gort
