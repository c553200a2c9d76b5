#include "sched/sema.hpp"

#include "runtime/internal/lock.hpp"
#include "sched/sched.hpp"
#include "sched/sudog.hpp"

namespace gort::sched {

namespace {

// One root of the semaphore table: the sudogs of every address that hashes
// here. nwait lets a release skip the lock when nobody waits.
struct alignas(64) SemaRoot {
  internal::Lock lock;
  std::atomic<uint32_t> nwait{0};
  Sudog* addresses = nullptr;  // the first waiter of each address

  Sudog* find(const void* addr) const {
    for (Sudog* s = addresses; s; s = s->addr_next)
      if (s->elem == addr) return s;
    return nullptr;
  }

  // `to` takes `from`'s place in the list of addresses.
  void replace(Sudog* from, Sudog* to) {
    to->addr_prev = from->addr_prev;
    to->addr_next = from->addr_next;
    if (to->addr_prev) to->addr_prev->addr_next = to;
    else addresses = to;
    if (to->addr_next) to->addr_next->addr_prev = to;
    from->addr_prev = from->addr_next = nullptr;
  }

  void queue(void* addr, Sudog* s, bool lifo) {
    s->elem = addr;
    s->waiters = {};
    Sudog* first = find(addr);
    if (!first) {
      s->addr_prev = nullptr;
      s->addr_next = addresses;
      if (addresses) addresses->addr_prev = s;
      addresses = s;
      return;
    }
    if (!lifo) {
      first->waiters.push_back(s);
      return;
    }
    // s goes before everyone: it becomes the address's first waiter.
    replace(first, s);
    s->waiters = first->waiters;
    first->waiters = {};
    s->waiters.push_front(first);
  }

  // Removes s, which waits on its address's queue (first or not).
  void remove(Sudog* s) {
    Sudog* first = find(s->elem);
    if (first != s) {
      first->waiters.remove(s);
      return;
    }
    Sudog* next = s->waiters.pop_front();
    if (next) {
      replace(s, next);
      next->waiters = s->waiters;
    } else {
      if (s->addr_prev) s->addr_prev->addr_next = s->addr_next;
      else addresses = s->addr_next;
      if (s->addr_next) s->addr_next->addr_prev = s->addr_prev;
      s->addr_prev = s->addr_next = nullptr;
    }
    s->waiters = {};
  }

  Sudog* dequeue(const void* addr) {
    Sudog* s = find(addr);
    if (s) remove(s);
    return s;
  }

  Sudog* dequeue_ticket(const void* addr, uint32_t ticket) {
    Sudog* first = find(addr);
    if (!first) return nullptr;
    Sudog* s = first->ticket == ticket ? first : nullptr;
    for (Sudog* w = first->waiters.first; !s && w; w = w->next)
      if (w->ticket == ticket) s = w;
    if (s) remove(s);
    return s;
  }
};

constexpr size_t kRoots = 251;  // prime, as Go's semTabSize
SemaRoot roots[kRoots];

SemaRoot& root_of(const void* addr) { return roots[(reinterpret_cast<uintptr_t>(addr) >> 3) % kRoots]; }

bool try_acquire(std::atomic<uint32_t>* addr) {
  uint32_t v = addr->load(std::memory_order_relaxed);
  while (v > 0)
    if (addr->compare_exchange_weak(v, v - 1, std::memory_order_acquire)) return true;
  return false;
}

// Ticket comparison that survives wrap-around.
bool ticket_less(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }

}  // namespace

void semacquire(std::atomic<uint32_t>* addr, bool lifo, const char* reason) {
  if (try_acquire(addr)) return;
  SemaRoot& root = root_of(addr);
  Sudog s;
  s.g = current_g();
  for (;;) {
    root.lock.lock();
    // Count ourselves as a waiter before the last look, so that a release
    // now either sees us or leaves a count we will take.
    root.nwait.fetch_add(1, std::memory_order_seq_cst);
    if (try_acquire(addr)) {
      root.nwait.fetch_sub(1, std::memory_order_relaxed);
      root.lock.unlock();
      return;
    }
    s.ticket = 0;
    root.queue(addr, &s, lifo);
    park_unlock(root.lock, reason);
    if (s.ticket != 0 || try_acquire(addr)) return;
  }
}

void semrelease(std::atomic<uint32_t>* addr, uint32_t n, bool handoff) {
  SemaRoot& root = root_of(addr);
  addr->fetch_add(n, std::memory_order_seq_cst);  // the last touch of *addr with no waiter to keep it alive
  if (root.nwait.load(std::memory_order_seq_cst) == 0) return;
  GList wake;
  bool handed_off = false;
  {
    internal::LockGuard l(root.lock);
    while (wake.size < int32_t(n) && root.nwait.load(std::memory_order_relaxed) > 0) {
      Sudog* s = root.dequeue(addr);
      if (!s) break;
      root.nwait.fetch_sub(1, std::memory_order_relaxed);
      // s still waits, so *addr is alive for this one.
      if (handoff && n == 1 && try_acquire(addr)) {
        s->ticket = 1;
        handed_off = true;
      }
      wake.push_back(s->g);
    }
  }
  while (G* g = wake.pop_front()) ready(g, true);
  // Direct hand-off: let the waiter run now on our P instead of a newcomer
  // barging in (the point of a starving Mutex).
  if (handed_off && current_g()) yield();
}

void purge_sema_waiters() {
  for (SemaRoot& root : roots) {
    internal::LockGuard l(root.lock);
    root.addresses = nullptr;
    root.nwait.store(0, std::memory_order_relaxed);
  }
}

uint32_t notify_list_add(std::atomic<uint32_t>* wait) { return wait->fetch_add(1, std::memory_order_acq_rel); }

void notify_list_wait(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify, uint32_t ticket) {
  SemaRoot& root = root_of(wait);
  root.lock.lock();
  if (ticket_less(ticket, notify->load(std::memory_order_relaxed))) {  // already signalled
    root.lock.unlock();
    return;
  }
  Sudog s;
  s.g = current_g();
  s.ticket = ticket;
  root.queue(wait, &s, false);
  park_unlock(root.lock, "sync.Cond.Wait");
}

void notify_list_notify_one(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify) {
  if (wait->load(std::memory_order_acquire) == notify->load(std::memory_order_acquire)) return;  // nobody waits
  SemaRoot& root = root_of(wait);
  G* g = nullptr;
  {
    internal::LockGuard l(root.lock);
    const uint32_t t = notify->load(std::memory_order_relaxed);
    if (wait->load(std::memory_order_acquire) == t) return;
    notify->store(t + 1, std::memory_order_release);
    // The waiter holding ticket t may not have queued yet; then it will see
    // notify past its ticket and not park at all.
    if (Sudog* s = root.dequeue_ticket(wait, t)) g = s->g;
  }
  if (g) ready(g, true);
}

void notify_list_notify_all(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify) {
  if (wait->load(std::memory_order_acquire) == notify->load(std::memory_order_acquire)) return;
  SemaRoot& root = root_of(wait);
  GList wake;
  {
    internal::LockGuard l(root.lock);
    notify->store(wait->load(std::memory_order_acquire), std::memory_order_release);
    while (Sudog* s = root.dequeue(wait)) wake.push_back(s->g);
  }
  while (G* g = wake.pop_front()) ready(g, true);
}

}  // namespace gort::sched
