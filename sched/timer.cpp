#include "sched/timer.hpp"

#include <sched.h>

#include "runtime/internal/nanotime.hpp"
#include "sched/netpoll.hpp"
#include "sched/sched.hpp"

namespace gort::sched {

void TimerHeap::add(Timer* t) {
  internal::assert_lock_held(lock);
  t->index = int32_t(heap_.size());
  heap_.push_back(t);
  up(heap_.size() - 1);
  publish();
}

void TimerHeap::remove(Timer* t) {
  internal::assert_lock_held(lock);
  const size_t i = size_t(t->index);
  const size_t last = heap_.size() - 1;
  if (i != last) {
    heap_[i] = heap_[last];
    heap_[i]->index = int32_t(i);
  }
  heap_.pop_back();
  t->index = -1;
  if (i < heap_.size()) {
    Timer* moved = heap_[i];
    up(i);
    down(size_t(moved->index));
  }
  publish();
}

void TimerHeap::fix_top() {
  internal::assert_lock_held(lock);
  down(0);
  publish();
}

void TimerHeap::clear() {
  for (Timer* t : heap_) {
    t->index = -1;
    t->pp.store(nullptr, std::memory_order_release);
    if (t->dispose) t->dispose(t);
  }
  heap_.clear();
  publish();
}

void TimerHeap::up(size_t i) {
  Timer* t = heap_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (heap_[parent]->when <= t->when) break;
    heap_[i] = heap_[parent];
    heap_[i]->index = int32_t(i);
    i = parent;
  }
  heap_[i] = t;
  t->index = int32_t(i);
}

void TimerHeap::down(size_t i) {
  const size_t n = heap_.size();
  if (i >= n) return;
  Timer* t = heap_[i];
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && heap_[child + 1]->when < heap_[child]->when) ++child;
    if (heap_[child]->when >= t->when) break;
    heap_[i] = heap_[child];
    heap_[i]->index = int32_t(i);
    i = child;
  }
  heap_[i] = t;
  t->index = int32_t(i);
}

namespace {

// Make sure some M will notice a timer due at `when` (Go's wakeNetPoller):
// interrupt the M sleeping in netpoll if it would sleep past it, otherwise
// start an M that will become the poller.
void wake_netpoller(int64_t when) {
  if (sched.lastpoll.load(std::memory_order_acquire) == 0) {
    const int64_t until = sched.poll_until.load(std::memory_order_acquire);
    if (until == 0 || until > when) netpoll_break();
  } else {
    wakep();
  }
}

}  // namespace

void add_timer(Timer* t) {
  M* m = current_m();
  P* p = m && m->p ? m->p : sched.allp[0];
  // Once the heap lock is released the timer may fire on another M and be
  // freed (a sleeper's timer lives on its stack): read it before.
  const int64_t when = t->when;
  {
    internal::LockGuard g(p->timers.lock);
    t->pp.store(p, std::memory_order_relaxed);
    p->timers.add(t);
  }
  wake_netpoller(when);
}

bool del_timer(Timer* t) {
  bool removed = false;
  for (;;) {
    P* p = t->pp.load(std::memory_order_acquire);
    if (!p) break;
    internal::LockGuard g(p->timers.lock);
    if (t->pp.load(std::memory_order_relaxed) != p) continue;
    p->timers.remove(t);
    t->pp.store(nullptr, std::memory_order_relaxed);
    removed = true;
    break;
  }
  // Its function may be running on another M right now; wait it out so the
  // caller can free the timer.
  while (t->running.load(std::memory_order_acquire)) sched_yield();
  return removed;
}

bool reset_timer(Timer* t, int64_t when, int64_t period) {
  const bool was_pending = del_timer(t);
  t->when = when;
  t->period = period;
  add_timer(t);
  return was_pending;
}

int64_t check_timers(P* p) {
  // Most schedules find no timers at all: skip even the clock read.
  const int64_t first = p->timers.first_when();
  if (first == 0) return 0;
  return run_timers(p, internal::nanotime());
}

int64_t run_timers(P* p, int64_t now) {
  assert_on_g0();
  const int64_t first = p->timers.first_when();
  if (first == 0 || first > now) return first;
  TimerHeap& h = p->timers;
  h.lock.lock();
  while (Timer* t = h.top()) {
    if (t->when > now) break;
    t->running.store(true, std::memory_order_relaxed);
    if (t->period > 0) {
      // Skip the ticks we are late for, as Go's tickers do.
      t->when += t->period * (1 + (now - t->when) / t->period);
      h.fix_top();
    } else {
      h.remove(t);
      t->pp.store(nullptr, std::memory_order_release);
    }
    // After running goes false the owner may free t at once (del_timer
    // waits for exactly that): whatever is needed later is read now.
    auto* const dispose = t->period == 0 ? t->dispose : nullptr;
    h.lock.unlock();
    t->f(t->arg, now);
    if (dispose) dispose(t);  // the heap owns such a timer: nobody waits on it
    else t->running.store(false, std::memory_order_release);
    h.lock.lock();
  }
  h.lock.unlock();
  return h.first_when();
}

namespace {

bool start_sleep_timer(G*, void* timer) {
  add_timer(static_cast<Timer*>(timer));
  return true;
}

}  // namespace

void sleep_ns(int64_t ns, const char* reason) {
  Timer t;
  t.when = internal::nanotime() + ns;
  t.f = [](void* g, int64_t) { ready(static_cast<G*>(g), true); };
  t.arg = current_g();
  // The timer starts only once the goroutine is parked: it cannot fire first.
  park(start_sleep_timer, &t, reason);
  del_timer(&t);
}

}  // namespace gort::sched
