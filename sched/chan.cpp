#include "sched/chan.hpp"

#include <algorithm>

#include "gort/detail/panic.hpp"
#include "gort/detail/safepoint.hpp"
#include "sched/gcscan.hpp"
#include "sched/hooks.hpp"
#include "sched/sched.hpp"

namespace gort::sched {

namespace {

// Every live channel: the collector scans the buffers of those whose values
// may hold pointers, and a shutdown forgets the waiters of all of them.
internal::Lock registry_lock;
ChanCore* registry_head = nullptr;

void register_channel(ChanCore* c) {
  internal::LockGuard l(registry_lock);
  c->registry_next = registry_head;
  if (registry_head) registry_head->registry_prev = c;
  registry_head = c;
}

void unregister_channel(ChanCore* c) {
  internal::LockGuard l(registry_lock);
  if (c->registry_prev) c->registry_prev->registry_next = c->registry_next;
  else registry_head = c->registry_next;
  if (c->registry_next) c->registry_next->registry_prev = c->registry_prev;
}

// Parks the current goroutine in q (c locked; the lock is released once it
// is switched out). True if woken by a partner, false if by close.
bool wait_in(ChanCore* c, WaitQueue& q, void* elem, const char* reason) {
  Sudog s;
  s.g = current_g();
  s.elem = elem;
  s.c = c;
  q.push_back(&s);
  park_unlock(c->lock, reason);
  return s.success;
}

[[noreturn]] void block_forever(const char* reason) {
  park(nullptr, nullptr, reason);
  // Nobody can ready a goroutine parked on a nil channel.
  __builtin_unreachable();
}

}  // namespace

void panic_send_on_closed() { throw panic_error("send on closed channel"); }

void for_each_channel_buffer(void (*fn)(const void* base, size_t size, void* arg), void* arg) {
  internal::LockGuard l(registry_lock);
  for (ChanCore* c = registry_head; c; c = c->registry_next) {
    if (!c->buf || !c->ops->may_hold_pointers) continue;
    internal::LockGuard cl(c->lock);
    fn(c->buf, c->slots * c->ops->elem_size, arg);
  }
}

void purge_channel_waiters() {
  internal::LockGuard l(registry_lock);
  for (ChanCore* c = registry_head; c; c = c->registry_next) {
    internal::LockGuard cl(c->lock);
    c->recvq = {};
    c->sendq = {};
  }
}

Sudog* dequeue_waiter(WaitQueue& q) {
  while (Sudog* s = q.pop_front()) {
    if (s->is_select) {
      uint32_t expected = 0;
      if (!s->g->select_done.compare_exchange_strong(expected, 1, std::memory_order_acq_rel)) continue;
    }
    return s;
  }
  return nullptr;
}

namespace {

// While marking, a value that changes hands through a channel is shaded:
// it leaves a stack or buffer the collector may not look at again for one
// it may have scanned already (Go's write barriers in sendDirect and
// typedmemmove on the buffer).
inline void shade_value(const ChanCore* c, const void* value) {
  if (gcscan.marking.load(std::memory_order_relaxed) && c->ops->may_hold_pointers) [[unlikely]]
    hooks().shade_range(value, c->ops->elem_size);
}

}  // namespace

G* send_direct(ChanCore* c, Sudog* receiver, void* elem) {
  if (receiver->elem) {
    c->ops->move_assign(receiver->elem, elem);
    shade_value(c, receiver->elem);
  }
  receiver->success = true;
  receiver->g->param = receiver;
  return receiver->g;
}

G* recv_direct(ChanCore* c, Sudog* sender, void* elem) {
  if (c->cap == 0) {
    shade_value(c, sender->elem);
    if (elem) c->ops->move_assign(elem, sender->elem);
  } else {
    // The buffer is full (or the sender would not be waiting): take its
    // head and put the sender's value at its tail, which is the same slot.
    void* head = c->slot(c->recvx);
    shade_value(c, head);
    if (elem) c->ops->move_assign(elem, head);
    c->ops->move_assign(head, sender->elem);
    shade_value(c, head);
    c->recvx = c->next(c->recvx);
    c->sendx = c->recvx;
  }
  sender->success = true;
  sender->g->param = sender;
  return sender->g;
}

namespace {

// A ring starts with this many bytes' worth of slots (at least one).
constexpr size_t kFirstRingBytes = 256;

size_t first_ring_slots(const detail::ChanOps* ops, size_t cap) {
  return std::min(cap, std::max<size_t>(1, kFirstRingBytes / ops->elem_size));
}

// The ring is full below cap: double it, the values in order from slot 0.
// The collector scans channel buffers under this lock, so it sees the old
// ring or the new one whole, holding the same values.
void grow_ring(ChanCore* c) {
  const size_t slots = std::min(c->cap, 2 * c->slots);
  void* buf = c->ops->new_buffer(slots);
  for (size_t i = 0, x = c->recvx; i < c->count; ++i, x = c->next(x))
    c->ops->move_assign(static_cast<char*>(buf) + i * c->ops->elem_size, c->slot(x));
  c->ops->delete_buffer(c->buf);
  c->buf = buf;
  c->recvx = 0;
  c->sendx = c->count;
  c->slots = slots;
}

}  // namespace

void buffer_put(ChanCore* c, void* elem) {
  if (c->count == c->slots) grow_ring(c);
  c->ops->move_assign(c->slot(c->sendx), elem);
  shade_value(c, c->slot(c->sendx));
  c->sendx = c->next(c->sendx);
  ++c->count;
}

void buffer_take(ChanCore* c, void* elem) {
  void* slot = c->slot(c->recvx);
  shade_value(c, slot);
  if (elem) c->ops->move_assign(elem, slot);
  c->ops->reset(slot);  // release what the value owned now, not at overwrite
  c->recvx = c->next(c->recvx);
  --c->count;
}

}  // namespace gort::sched

namespace gort::detail {

using sched::ChanCore;
using sched::G;
using sched::Sudog;

std::shared_ptr<Channel> chan_make(const ChanOps* ops, size_t cap) {
  auto* c = new ChanCore;
  c->ops = ops;
  c->cap = cap;
  if (cap > 0) {
    c->slots = sched::first_ring_slots(ops, cap);
    c->buf = ops->new_buffer(c->slots);
  }
  sched::register_channel(c);
  return std::shared_ptr<Channel>(c, [](Channel* ch) {
    ChanCore* c = sched::core_of(ch);
    sched::unregister_channel(c);
    if (c->buf) c->ops->delete_buffer(c->buf);
    delete c;
  });
}

void chan_send(Channel* ch, void* elem) {
  ChanCore* c = sched::core_of(ch);
  detail::safepoint();
  if (!c) sched::block_forever("chan send (nil chan)");
  c->lock.lock();
  if (c->closed) {
    c->lock.unlock();
    sched::panic_send_on_closed();
  }
  if (Sudog* r = sched::dequeue_waiter(c->recvq)) {
    G* g = sched::send_direct(c, r, elem);
    c->lock.unlock();
    sched::ready(g, true);
    return;
  }
  if (c->count < c->cap) {
    sched::buffer_put(c, elem);
    c->lock.unlock();
    return;
  }
  if (!sched::wait_in(c, c->sendq, elem, "chan send")) sched::panic_send_on_closed();  // woken by close
}

bool chan_recv(Channel* ch, void* elem) {
  ChanCore* c = sched::core_of(ch);
  detail::safepoint();
  if (!c) sched::block_forever("chan receive (nil chan)");
  c->lock.lock();
  if (c->closed && c->count == 0) {
    c->lock.unlock();
    c->ops->reset(elem);
    return false;
  }
  if (Sudog* s = sched::dequeue_waiter(c->sendq)) {
    G* g = sched::recv_direct(c, s, elem);
    c->lock.unlock();
    sched::ready(g, true);
    return true;
  }
  if (c->count > 0) {
    sched::buffer_take(c, elem);
    c->lock.unlock();
    return true;
  }
  return sched::wait_in(c, c->recvq, elem, "chan receive");  // false: closed, elem zeroed
}

void chan_close(Channel* ch) {
  ChanCore* c = sched::core_of(ch);
  if (!c) throw panic_error("close of nil channel");
  sched::GList wake;
  {
    internal::LockGuard l(c->lock);
    if (c->closed) throw panic_error("close of closed channel");
    c->closed = true;
    while (Sudog* r = sched::dequeue_waiter(c->recvq)) {
      if (r->elem) c->ops->reset(r->elem);
      r->success = false;
      r->g->param = r;
      wake.push_back(r->g);
    }
    while (Sudog* s = sched::dequeue_waiter(c->sendq)) {
      s->success = false;
      s->g->param = s;
      wake.push_back(s->g);
    }
  }
  while (G* g = wake.pop_front()) sched::ready(g, true);
}

size_t chan_len(const Channel* ch) {
  if (!ch) return 0;
  ChanCore* c = sched::core_of(const_cast<Channel*>(ch));
  internal::LockGuard l(c->lock);
  return c->count;
}

size_t chan_cap(const Channel* ch) { return ch ? sched::core_of(const_cast<Channel*>(ch))->cap : 0; }

}  // namespace gort::detail
