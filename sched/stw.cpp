#include "sched/stw.hpp"

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "sched/futex.hpp"
#include "sched/nanotime.hpp"
#include "sched/sched.hpp"

namespace gort::sched {

namespace {

constexpr int64_t kSignalAfterNs = 100000;
std::atomic<uint32_t> world_generation{0};

void wait_for_restart(M* m, P* p, void* uctx);

void on_preempt_signal(int, siginfo_t*, void* uctx) {
  if (!sched.gcwaiting.load(std::memory_order_acquire)) return;
  const int saved_errno = errno;  // futex calls below must not leak into the interrupted code
  M* m = current_m();
  // On g0 (no goroutine) the scheduler loop itself notices gcwaiting soon.
  if (m && m->curg && !m->in_blocking_call && !m->mallocing && m->p) wait_for_restart(m, m->p, uctx);
  errno = saved_errno;
}

void wait_for_restart(M* m, P* p, void* uctx) {
  const uint32_t gen = world_generation.load(std::memory_order_acquire);
  m->signal_context = uctx;
  p->stopped_in_signal.store(true, std::memory_order_relaxed);
  PStatus expected = PStatus::kRunning;
  if (!p->status.compare_exchange_strong(expected, PStatus::kGcStop, std::memory_order_acq_rel)) {
    p->stopped_in_signal.store(false, std::memory_order_relaxed);
    m->signal_context = nullptr;
    return;
  }
  sched.stop_note.wakeup();
  // Only futex and atomics here: both are async-signal-safe.
  while (world_generation.load(std::memory_order_acquire) == gen) futex_wait(&world_generation, gen);
  m->signal_context = nullptr;
  p->status.store(PStatus::kRunning, std::memory_order_release);
  p->stopped_in_signal.store(false, std::memory_order_release);
}

}  // namespace

void install_preempt_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_preempt_signal;
    // SA_RESTART: a thread interrupted inside a system call resumes it.
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, nullptr);
  });
}

StwStats stop_the_world() {
  M* self = current_m();
  if (!self || !self->curg || !self->p) {
    std::fprintf(stderr, "fatal error: gort: stop_the_world outside a goroutine\n");
    std::abort();
  }
  P* mine = self->p;
  StwStats stats;
  const int64_t start = nanotime();
  {
    LockGuard l(sched.lock);
    sched.gcwaiting.store(true, std::memory_order_release);
    sched.stop_note.clear();
    while (P* p = pidleget()) {
      p->status.store(PStatus::kGcStop, std::memory_order_release);
      ++stats.idle_or_blocking;
    }
  }
  for (;;) {
    bool all = true;
    for (P* p : sched.allp) {
      if (p == mine) continue;
      PStatus st = p->status.load(std::memory_order_acquire);
      if (st == PStatus::kSyscall &&
          p->status.compare_exchange_strong(st, PStatus::kGcStop, std::memory_order_acq_rel)) {
        ++stats.idle_or_blocking;
        continue;
      }
      if (st == PStatus::kIdle) {
        // Handed back to the idle list after we emptied it (an M that was
        // finishing a turn): take it again.
        LockGuard l(sched.lock);
        while (P* q = pidleget()) {
          q->status.store(PStatus::kGcStop, std::memory_order_release);
          ++stats.idle_or_blocking;
        }
        all = false;
        continue;
      }
      if (st == PStatus::kRunning) {
        all = false;
        if (G* g = p->running.load(std::memory_order_acquire)) request_preempt(g);
        M* holder = p->m.load(std::memory_order_relaxed);  // stale at worst: the handler re-checks
        if (nanotime() - start > kSignalAfterNs && holder) pthread_kill(holder->thread.native_handle(), SIGURG);
      }
    }
    if (all) break;
    sched.stop_note.sleep_for(20000);
    sched.stop_note.clear();
  }
  for (P* p : sched.allp) {
    if (p == mine) continue;
    if (p->stopped_in_signal.load(std::memory_order_acquire)) ++stats.stopped_by_signal;
  }
  stats.stopped_at_safepoint = int(sched.allp.size()) - 1 - stats.stopped_by_signal - stats.idle_or_blocking;
  stats.wait_ns = nanotime() - start;
  return stats;
}

void start_the_world() {
  M* self = current_m();
  P* mine = self->p;
  std::vector<P*> to_start;
  {
    LockGuard l(sched.lock);
    sched.gcwaiting.store(false, std::memory_order_release);
    for (P* p : sched.allp) {
      if (p == mine || p->stopped_in_signal.load(std::memory_order_acquire)) continue;
      if (p->status.load(std::memory_order_acquire) != PStatus::kGcStop) continue;
      p->m.store(nullptr, std::memory_order_relaxed);
      if (!p->runq.empty()) {
        p->status.store(PStatus::kIdle, std::memory_order_release);
        to_start.push_back(p);
      } else {
        pidleput(p);
        p->status.store(PStatus::kIdle, std::memory_order_release);
      }
    }
  }
  // Threads parked in the signal handler resume their goroutines.
  world_generation.fetch_add(1, std::memory_order_acq_rel);
  futex_wake(&world_generation, INT32_MAX);
  for (P* p : to_start) startm(p, false);
  wakep();
}

}  // namespace gort::sched
