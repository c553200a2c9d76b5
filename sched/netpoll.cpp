#include "sched/netpoll.hpp"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace gort::sched {

namespace {

int epfd = -1;
int breakfd = -1;
std::atomic<uint32_t> break_pending{0};

}  // namespace

void netpoll_init() {
  epfd = epoll_create1(EPOLL_CLOEXEC);
  breakfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (epfd < 0 || breakfd < 0) {
    std::fprintf(stderr, "fatal error: gort netpoll init: %s\n", std::strerror(errno));
    std::abort();
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.ptr = nullptr;
  epoll_ctl(epfd, EPOLL_CTL_ADD, breakfd, &ev);
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

GList netpoll(int64_t delay_ns) {
  // epoll_pwait2 takes a timespec: timers keep nanosecond precision rather
  // than epoll_wait's milliseconds.
  timespec ts{};
  timespec* tsp = nullptr;
  if (delay_ns >= 0) {
    ts.tv_sec = delay_ns / 1000000000;
    ts.tv_nsec = delay_ns % 1000000000;
    tsp = &ts;
  }
  epoll_event events[128];
  const int n = epoll_pwait2(epfd, events, 128, tsp, nullptr);
  GList ready;
  for (int i = 0; i < n; ++i) {
    if (events[i].data.ptr == nullptr) {
      uint64_t v;
      ssize_t r = read(breakfd, &v, sizeof v);
      (void)r;
      break_pending.store(0);
    }
  }
  return ready;
}

}  // namespace gort::sched
