// Channel internals (Go's hchan, runtime/chan.go).
//
// One runtime lock guards everything. A buffered channel keeps a ring of
// slots that grows toward `cap` as values pile up (Go allocates all `cap` at
// make; a chat server's per-client send queue of 1,024 lines would then cost
// 32 KB per connection however few lines ever wait in it). Both kinds keep a queue of parked senders and one of parked
// receivers. When a receiver is already parked, a sender moves its value
// straight into the receiver's variable on the receiver's stack and readies
// it: no buffer copy, and the receiver runs next on the sender's P. A parked
// sender is served the same way by an arriving receiver.
#pragma once

#include <cstddef>

#include "gort/detail/chan_core.hpp"
#include "runtime/internal/lock.hpp"
#include "sched/sudog.hpp"

namespace gort::sched {

struct ChanCore : detail::Channel {
  internal::Lock lock;
  const detail::ChanOps* ops = nullptr;
  void* buf = nullptr;
  size_t cap = 0;
  size_t slots = 0;  // allocated ring slots: count <= slots <= cap
  size_t count = 0;
  size_t sendx = 0;
  size_t recvx = 0;
  bool closed = false;
  WaitQueue recvq;
  WaitQueue sendq;
  // In the registry of live channels, under the registry's lock.
  ChanCore* registry_prev = nullptr;
  ChanCore* registry_next = nullptr;

  void* slot(size_t i) const { return static_cast<char*>(buf) + i * ops->elem_size; }
  bool full() const { return count == cap; }
  size_t next(size_t i) const { return i + 1 == slots ? 0 : i + 1; }
};

inline ChanCore* core_of(detail::Channel* c) { return static_cast<ChanCore*>(c); }

// First waiter in q that can still be woken. A select waiter whose select was
// already won on another channel is dropped, as in Go.
Sudog* dequeue_waiter(WaitQueue& q);

// The hand-offs, with c locked. Each returns the G to ready once the caller
// has released its locks.
G* send_direct(ChanCore* c, Sudog* receiver, void* elem);
G* recv_direct(ChanCore* c, Sudog* sender, void* elem);
void buffer_put(ChanCore* c, void* elem);
void buffer_take(ChanCore* c, void* elem);

[[noreturn]] void panic_send_on_closed();

// Calls fn on the buffer of every buffered channel whose values may hold
// pointers, each under its channel's lock: values in flight are roots.
void for_each_channel_buffer(void (*fn)(const void* base, size_t size, void* arg), void* arg);

}  // namespace gort::sched
