// Go's sync.Cond: goroutines wait for a condition guarded by a Mutex.
//
//   std::unique_lock lk(mu);            // or mu.lock()
//   while (!ready) cond.wait();         // unlocks mu while parked
//
// Waiters are woken in the order they started waiting (Go's notifyList:
// each wait takes a ticket, each signal serves the oldest ticket).
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/mutex.hpp"

namespace gort {

class Cond {
 public:
  explicit Cond(Mutex& m) : m_(m) {}
  Cond(const Cond&) = delete;
  Cond& operator=(const Cond&) = delete;

  // Atomically unlocks the mutex and parks; relocks before returning.
  void wait();
  void signal();
  void broadcast();

 private:
  Mutex& m_;
  // Go's notifyList: tickets handed to waiters and tickets served. The
  // waiters themselves wait in the runtime's semaphore table, keyed by the
  // address of wait_ticket_.
  std::atomic<uint32_t> wait_ticket_{0};
  std::atomic<uint32_t> notify_ticket_{0};
};

}  // namespace gort
