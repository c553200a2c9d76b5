// Cond over a ticketed notify list (Go's runtime/sema.go notifyList*).
// Taking the ticket before unlocking the mutex is what makes "unlock and
// wait" atomic: a signal sent after our unlock serves our ticket even if we
// have not parked yet, and we then skip parking.
#include "gort/cond.hpp"

#include "sched/sched.hpp"
#include "sched/sudog.hpp"

namespace gort {

namespace {

// Ticket comparison that survives wrap-around.
bool ticket_less(uint32_t a, uint32_t b) { return int32_t(a - b) < 0; }

bool unlock_after_park(sched::G*, void* lock) {
  static_cast<sched::Lock*>(lock)->unlock();
  return true;
}

}  // namespace

void Cond::wait() {
  const uint32_t ticket = wait_ticket_.fetch_add(1, std::memory_order_acq_rel);
  m_.unlock();
  lock_.lock();
  if (ticket_less(ticket, notify_ticket_.load(std::memory_order_relaxed))) {
    lock_.unlock();  // already signalled
  } else {
    sched::Sudog s;
    s.g = sched::current_g();
    s.ticket = ticket;
    waiters_.push_back(&s);
    sched::park(unlock_after_park, &lock_, "sync.Cond.Wait");
  }
  m_.lock();
}

void Cond::signal() {
  if (wait_ticket_.load(std::memory_order_acquire) == notify_ticket_.load(std::memory_order_acquire))
    return;  // nobody waiting
  sched::G* wake = nullptr;
  {
    sched::LockGuard l(lock_);
    const uint32_t t = notify_ticket_.load(std::memory_order_relaxed);
    if (wait_ticket_.load(std::memory_order_acquire) == t) return;
    notify_ticket_.store(t + 1, std::memory_order_release);
    // The waiter holding ticket t may not have queued yet; then it will see
    // notify_ticket_ past its ticket and not park at all.
    for (sched::Sudog* s = waiters_.first; s; s = s->next) {
      if (s->ticket == t) {
        waiters_.remove(s);
        wake = s->g;
        break;
      }
    }
  }
  if (wake) sched::ready(wake, true);
}

void Cond::broadcast() {
  if (wait_ticket_.load(std::memory_order_acquire) == notify_ticket_.load(std::memory_order_acquire))
    return;
  sched::GList wake;
  {
    sched::LockGuard l(lock_);
    notify_ticket_.store(wait_ticket_.load(std::memory_order_acquire), std::memory_order_release);
    while (sched::Sudog* s = waiters_.pop_front()) wake.push_back(s->g);
  }
  while (sched::G* g = wake.pop_front()) sched::ready(g, true);
}

}  // namespace gort
