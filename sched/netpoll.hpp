// The network poller (Go's netpoll_epoll.go).
//
// One epoll instance per runtime. An M with nothing to run blocks here, with
// the earliest timer of any P as its timeout; netpoll_break() interrupts it
// (an eventfd in the set) when an earlier timer or new work appears.
// Only one M blocks in netpoll at a time: the scheduler hands out that role
// through sched.lastpoll.
#pragma once

#include <cstdint>

#include "sched/g.hpp"

namespace gort::sched {

void netpoll_init();
void netpoll_close();

// Waits up to delay_ns (< 0: forever, 0: just look) and returns the
// goroutines whose I/O became ready.
GList netpoll(int64_t delay_ns);

// Wakes an M blocked in netpoll; several calls before it wakes count once.
void netpoll_break();

}  // namespace gort::sched
