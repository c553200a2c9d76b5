#include "sched/netpoll.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>

#include "runtime/internal/fatal.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/race.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "runtime/internal/sysmem.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"

namespace gort::sched {

namespace {

int epfd = -1;
int breakfd = -1;

// PollDescs are recycled, never freed (Go's pollCache): epoll_wait on one M
// may hand out a descriptor that another M is closing at that very moment,
// and the late event must land on valid memory. At worst it leaves a stale
// readiness token, which costs the next user of the descriptor one read()
// that says EAGAIN.
internal::Lock cache_lock;
internal::RawVector<PollDesc*> cache;    // free ones; off malloc, under cache_lock
internal::RawVector<PollDesc*> all_pds;  // every one ever made, under cache_lock
PollDesc* slab = nullptr;                // PollDescs are carved from here, off malloc
size_t slab_left = 0;

PollDesc* new_poll_desc() {
  internal::assert_lock_held(cache_lock);
  if (slab_left == 0) {
    constexpr size_t kSlab = 256;
    slab = static_cast<PollDesc*>(internal::map_memory(kSlab * sizeof(PollDesc), "poll descriptors"));
    slab_left = kSlab;
  }
  --slab_left;
  PollDesc* pd = new (slab++) PollDesc;
  all_pds.push_back(pd);
  return pd;
}
std::atomic<uint32_t> break_pending{0};
std::atomic<int32_t> waiters{0};

// The goroutine to wake in direction d of pd, if any. A waker that readies
// it at once (a close, a deadline) counts it off the waiters here;
// netpoll's harvest keeps it counted until netpoll_handed_over.
enum class Count { kOffNow, kUntilHandedOver };
G* take_waiter(PollDesc* pd, PollDesc::Direction& d, PollResult why, Count count = Count::kOffNow) {
  internal::assert_lock_held(pd->lock);
  G* g = d.waiter;
  if (g) {
    d.waiter = nullptr;
    d.wake = why;
    if (count == Count::kOffNow) waiters.fetch_sub(1, std::memory_order_relaxed);
  }
  return g;
}

// A deadline timer re-reads the deadlines under the lock: one that fires
// after its deadline was moved finds nothing due and does nothing.
void deadline_fired(void* arg, int64_t) {
  auto* pd = static_cast<PollDesc*>(arg);
  G* wake[2] = {nullptr, nullptr};
  {
    internal::LockGuard l(pd->lock);
    const int64_t now = internal::nanotime();
    PollDesc::Direction* dirs[2] = {&pd->rd, &pd->wr};
    for (int i = 0; i < 2; ++i) {
      PollDesc::Direction& d = *dirs[i];
      if (d.deadline > 0 && d.deadline <= now) {
        d.deadline = -1;
        wake[i] = take_waiter(pd, d, PollResult::kTimeout);
      }
    }
  }
  for (G* g : wake)
    if (g) ready(g, true);
}

}  // namespace

void netpoll_init() {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epfd < 0 || breakfd < 0) internal::fatal("runtime: netpoll init: ", std::strerror(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(epfd, EPOLL_CTL_ADD, breakfd, &ev);
  waiters.store(0);
}

void netpoll_close() {
  close(epfd);
  close(breakfd);
  epfd = breakfd = -1;
  break_pending.store(0);
}

void netpoll_break() {
  uint32_t expected = 0;
  if (!break_pending.compare_exchange_strong(expected, 1)) return;
  const uint64_t one = 1;
  ssize_t r = write(breakfd, &one, sizeof one);
  (void)r;
}

int32_t netpoll_waiters() { return waiters.load(std::memory_order_relaxed); }

void netpoll_handed_over(int32_t goroutines) {
  // After the hand-over took the scheduler's lock (inject, pidleget): a
  // deadlock check, which reads the count under that lock, sees the
  // goroutines queued or a P taken, or else still counts them here.
  if (goroutines > 0) waiters.fetch_sub(goroutines, std::memory_order_relaxed);
}

PollDesc* netpoll_open(int fd) {
  PollDesc* pd = nullptr;
  {
    internal::LockGuard l(cache_lock);
    if (!cache.empty()) {
      pd = cache.back();
      cache.pop_back();
    }
  }
  if (!pd) {
    internal::LockGuard l(cache_lock);
    pd = new_poll_desc();
  }
  {
    internal::LockGuard l(pd->lock);
    pd->fd = fd;
    pd->closing = false;
    for (PollDesc::Direction* d : {&pd->rd, &pd->wr}) {
      d->waiter = nullptr;
      d->token = false;
      d->deadline = 0;
      d->wake = PollResult::kReady;
      d->timer.f = deadline_fired;
      d->timer.arg = pd;
    }
  }
  internal::race_release(pd);
  epoll_event ev{};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.ptr = pd;
  if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
    internal::LockGuard l(cache_lock);
    cache.push_back(pd);
    return nullptr;
  }
  return pd;
}

void netpoll_evict(PollDesc* pd) {
  G* wake[2];
  {
    internal::LockGuard l(pd->lock);
    pd->closing = true;
    wake[0] = take_waiter(pd, pd->rd, PollResult::kClosed);
    wake[1] = take_waiter(pd, pd->wr, PollResult::kClosed);
  }
  for (G* g : wake)
    if (g) ready(g, true);
}

void netpoll_purge() {
  internal::LockGuard l(cache_lock);
  for (PollDesc* pd : all_pds) {
    internal::LockGuard pl(pd->lock);
    pd->closing = true;
    pd->rd.waiter = pd->wr.waiter = nullptr;
  }
  waiters.store(0, std::memory_order_relaxed);
}

void netpoll_close_fd(PollDesc* pd) {
  netpoll_evict(pd);
  del_timer(&pd->rd.timer);
  del_timer(&pd->wr.timer);
  epoll_ctl(epfd, EPOLL_CTL_DEL, pd->fd, nullptr);
  internal::LockGuard l(cache_lock);
  cache.push_back(pd);
}

PollResult netpoll_wait(PollDesc* pd, bool write) {
  PollDesc::Direction& d = write ? pd->wr : pd->rd;
  pd->lock.lock();
  if (pd->closing) {
    pd->lock.unlock();
    return PollResult::kClosed;
  }
  if (d.deadline < 0) {
    pd->lock.unlock();
    return PollResult::kTimeout;
  }
  if (d.token) {
    d.token = false;
    pd->lock.unlock();
    return PollResult::kReady;
  }
  d.waiter = current_g();
  d.wake = PollResult::kReady;
  waiters.fetch_add(1, std::memory_order_relaxed);
  park_unlock(pd->lock, write ? "IO wait (write)" : "IO wait (read)");
  return d.wake;
}

void netpoll_set_deadline(PollDesc* pd, bool write, int64_t deadline) {
  PollDesc::Direction& d = write ? pd->wr : pd->rd;
  // Stop the old timer outside the lock: its function takes the lock.
  del_timer(&d.timer);
  G* wake = nullptr;
  bool arm = false;
  {
    internal::LockGuard l(pd->lock);
    if (deadline == 0) {
      d.deadline = 0;
    } else if (deadline <= internal::nanotime()) {
      d.deadline = -1;
      wake = take_waiter(pd, d, PollResult::kTimeout);
    } else {
      d.deadline = deadline;
      arm = true;
    }
  }
  if (arm) {
    d.timer.when = deadline;
    d.timer.period = 0;
    add_timer(&d.timer);
  }
  if (wake) ready(wake, true);
}

GList netpoll(int64_t delay_ns) {
  // epoll_pwait2 takes a timespec: timers keep nanosecond precision rather
  // than epoll_wait's milliseconds.
  const timespec ts = internal::to_timespec(delay_ns);
  epoll_event events[128];
  const int n = epoll_pwait2(epfd, events, 128, delay_ns >= 0 ? &ts : nullptr, nullptr);
  GList ready_list;
  for (int i = 0; i < n; ++i) {
    auto* pd = static_cast<PollDesc*>(events[i].data.ptr);
    if (!pd) {
      uint64_t v;
      ssize_t r = read(breakfd, &v, sizeof v);
      (void)r;
      break_pending.store(0);
      continue;
    }
    internal::race_acquire(pd);
    const uint32_t ev = events[i].events;
    // Errors and hang-ups wake both directions: the next read or write
    // reports what happened.
    const bool readable = ev & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR);
    const bool writable = ev & (EPOLLOUT | EPOLLHUP | EPOLLERR);
    internal::LockGuard l(pd->lock);
    if (readable) {
      if (G* g = take_waiter(pd, pd->rd, PollResult::kReady, Count::kUntilHandedOver)) ready_list.push_back(g);
      else pd->rd.token = true;
    }
    if (writable) {
      if (G* g = take_waiter(pd, pd->wr, PollResult::kReady, Count::kUntilHandedOver)) ready_list.push_back(g);
      else pd->wr.token = true;
    }
  }
  for (G* g = ready_list.head; g; g = g->schedlink) {
    g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
    if (trace::on()) trace::go_unblock(current_m(), g);
  }
  return ready_list;
}

}  // namespace gort::sched
