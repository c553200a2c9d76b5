#include "gort/detail/sema.hpp"

#include "sched/sched.hpp"
#include "sched/sudog.hpp"

namespace gort::sched {

namespace {

bool unlock_after_park(G*, void* lock) {
  static_cast<Lock*>(lock)->unlock();
  return true;
}

}  // namespace

void Sema::acquire(bool lifo) {
  if (!try_acquire()) acquire_slow(lifo);
  wait_quiescent();
}

void Sema::acquire_slow(bool lifo) {
  Sudog s;
  s.g = current_g();
  for (;;) {
    lock_.lock();
    // Count ourselves as a waiter before the last look, so that a release
    // now either sees us or leaves a count we will take.
    nwait_.fetch_add(1, std::memory_order_seq_cst);
    if (try_acquire()) {
      nwait_.fetch_sub(1, std::memory_order_relaxed);
      lock_.unlock();
      return;
    }
    s.ticket = 0;
    if (lifo) waiters_.push_front(&s);
    else waiters_.push_back(&s);
    park(unlock_after_park, &lock_, "semacquire");
    if (s.ticket != 0 || try_acquire()) return;
  }
}

void Sema::wait_quiescent() const {
  for (int spins = 0; releasers_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < 64) __builtin_ia32_pause();
    else sched::yield();
  }
}

void Sema::release(uint32_t n, bool handoff) {
  releasers_.fetch_add(1, std::memory_order_seq_cst);
  count_.fetch_add(n, std::memory_order_seq_cst);
  GList wake;
  bool handed = false;
  if (nwait_.load(std::memory_order_seq_cst) != 0) {
    LockGuard l(lock_);
    while (wake.size < int32_t(n) && !waiters_.empty()) {
      Sudog* s = waiters_.pop_front();
      nwait_.fetch_sub(1, std::memory_order_relaxed);
      if (handoff && n == 1 && try_acquire()) {
        s->ticket = 1;
        handed = true;
      }
      wake.push_back(s->g);
    }
  }
  releasers_.fetch_sub(1, std::memory_order_release);  // last touch of *this
  while (G* g = wake.pop_front()) ready(g, true);
  // Direct hand-off: let the waiter run now on our P instead of a newcomer
  // barging in (the point of a starving Mutex).
  if (handed && current_g()) yield();
}

}  // namespace gort::sched
