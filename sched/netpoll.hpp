// The network poller (Go's netpoll.go and netpoll_epoll.go).
//
// Every socket gort opens is non-blocking and registered once with one epoll
// instance, edge-triggered, pointing at its PollDesc. A goroutine whose read
// or write would block parks on the PollDesc; the M goes on with other work.
// Readiness arrives from netpoll(), which the scheduler calls without
// blocking when it looks for work, and which the last idle M blocks in,
// with the earliest timer of any P as its timeout. netpoll_break() (an
// eventfd in the set) interrupts it.
//
// Each direction (read, write) has a one-token state: an event that finds no
// waiter leaves a token, and the next waiter consumes it instead of parking,
// so an edge-triggered event can never be lost between a read() that
// returned EAGAIN and the park.
#pragma once

#include <atomic>
#include <cstdint>

#include "runtime/internal/lock.hpp"
#include "sched/g.hpp"
#include "sched/timer.hpp"

namespace gort::sched {

enum class PollResult { kReady, kTimeout, kClosed };

struct PollDesc {
  int fd = -1;
  internal::Lock lock;
  bool closing = false;
  struct Direction {
    G* waiter = nullptr;
    bool token = false;    // readiness seen while nobody waited
    int64_t deadline = 0;  // 0: none; < 0: expired
    PollResult wake = PollResult::kReady;
    Timer timer;
  } rd, wr;
};

void netpoll_init();
void netpoll_close();

// Registers fd (already non-blocking) for edge-triggered read and write.
PollDesc* netpoll_open(int fd);
// Wakes every waiter with kClosed, stops deadline timers, unregisters fd and
// recycles pd. The caller closes fd afterwards.
void netpoll_close_fd(PollDesc* pd);
// Marks pd closing (waiters wake with kClosed) without unregistering it.
void netpoll_evict(PollDesc* pd);

// Parks the current goroutine until pd is ready in that direction, its
// deadline passes, or it is closed.
PollResult netpoll_wait(PollDesc* pd, bool write);

// Sets a direction's deadline (nanotime; 0 clears it).
void netpoll_set_deadline(PollDesc* pd, bool write, int64_t deadline);

// Waits up to delay_ns (< 0: forever, 0: just look) and returns the
// goroutines whose I/O became ready, marked runnable. They still count as
// waiting on the network until the caller has queued them, or holds a P to
// run one: then it calls netpoll_handed_over with how many it was given.
// Until then they are on no run queue, and the deadlock check (which sees
// no waiter, no queued goroutine and, a moment after a blocking poll, every
// P idle) must not take them for dead.
GList netpoll(int64_t delay_ns);
void netpoll_handed_over(int32_t goroutines);

// Goroutines parked on sockets, or readied by netpoll and not yet handed
// over; the scheduler polls only while some are.
int32_t netpoll_waiters();

// Wakes an M blocked in netpoll; several calls before it wakes count once.
void netpoll_break();

// The runtime is going away: every descriptor it opened is closed to the
// goroutines left behind (a later read or write fails as on a closed
// connection), and no waiter is remembered.
void netpoll_purge();

}  // namespace gort::sched
