// Sudog: one goroutine waiting in one wait queue (Go's sudog, runtime2.go).
//
// A goroutine blocked on a channel, a semaphore or a condition list is
// represented there by a sudog; a select blocked on n channels has n of
// them, all pointing to the same G. gort's stacks never move, so sudogs live
// in the waiting goroutine's own stack frame: no allocation, no pool.
#pragma once

#include <cstdint>

#include "sched/g.hpp"

namespace gort::sched {

struct ChanCore;
struct Sudog;

// A FIFO of sudogs, linked through the sudogs themselves.
struct WaitQueue {
  Sudog* first = nullptr;
  Sudog* last = nullptr;

  bool empty() const { return first == nullptr; }
  inline void push_back(Sudog* s);
  inline void push_front(Sudog* s);
  inline void remove(Sudog* s);
  inline Sudog* pop_front();
};

struct Sudog {
  G* g = nullptr;
  Sudog* next = nullptr;
  Sudog* prev = nullptr;
  void* elem = nullptr;   // value to send, or where to receive; a semaphore's address
  ChanCore* c = nullptr;  // channel, for select's bookkeeping
  bool is_select = false;
  bool success = false;  // channel: woken by a value (true) or by close (false)
  bool queued = false;   // in a WaitQueue right now
  uint32_t ticket = 0;   // semaphore hand-off / notify-list ticket
  // Semaphore table: the first waiter for an address is linked into its
  // root's list of addresses and holds the others, in order, in `waiters`.
  Sudog* addr_next = nullptr;
  Sudog* addr_prev = nullptr;
  WaitQueue waiters;
};

inline void WaitQueue::push_back(Sudog* s) {
  s->queued = true;
  s->next = nullptr;
  s->prev = last;
  if (last) last->next = s;
  else first = s;
  last = s;
}

inline void WaitQueue::push_front(Sudog* s) {
  s->queued = true;
  s->prev = nullptr;
  s->next = first;
  if (first) first->prev = s;
  else last = s;
  first = s;
}

// A losing select case may already have been unlinked by a waker that lost
// the select_done race, hence the queued check.
inline void WaitQueue::remove(Sudog* s) {
  if (!s->queued) return;
  s->queued = false;
  if (s->prev) s->prev->next = s->next;
  else first = s->next;
  if (s->next) s->next->prev = s->prev;
  else last = s->prev;
  s->next = s->prev = nullptr;
}

inline Sudog* WaitQueue::pop_front() {
  Sudog* s = first;
  if (s) remove(s);
  return s;
}

}  // namespace gort::sched
