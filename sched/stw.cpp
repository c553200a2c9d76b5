#include "sched/stw.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/ucontext.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "runtime/internal/check.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/futex.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "runtime/internal/shared_library.hpp"
#include "runtime/internal/stack_pointer.hpp"
#include "sched/sched.hpp"

namespace gort::sched {

namespace {

constexpr int64_t kSignalAfterNs = 100000;  // give a running goroutine this long to reach a safe point
constexpr int64_t kRecheckNs = 20000;
// For the first kStopSpinNs of a stop the stopper waits for the Ps
// spinning, not in a futex sleep: a P at a safe point stops within
// microseconds, and a futex wake-up would add the kernel's latency (10-50
// us on a virtual machine) to the pause. It yields its CPU as it spins
// (internal::Note::sleep_for), since the thread it waits for may be queued
// behind it. A stop that takes longer (a goroutine to be stopped by signal)
// sleeps between its rechecks.
constexpr int64_t kStopSpinNs = 200000;

// Bumped by every start_the_world; threads parked in the handler wait for it.
std::atomic<uint32_t> world_generation{0};
// The M between stop_the_world and start_the_world.
std::atomic<M*> stopper{nullptr};
// What stop_the_world counted as parked in the handler, for the pause.
int stopped_in_handler = 0;
// Nobody ever changes it: a thread abandoned at shutdown sleeps on it.
std::atomic<uint32_t> never_changes{0};

// Only futex and atomics here: both are async-signal-safe.
//
// Stops this thread until the world restarts. The collector scans the
// goroutine from what is published here, so it is published before the
// stopper can count the thread as stopped: before p's status says kGcStop
// (a thread holding a P), or as the very signal_context the stopper waits
// for (a thread in gort::blocking, p null). Returns false, without
// stopping, when p turned out not to be running any more.
__attribute__((noinline)) bool stop_until_restart(M* m, P* p, uint32_t generation, void* uctx) {
  // Normally the handler runs on the M's alternate stack and the context
  // says where the goroutine stood. ThreadSanitizer instead runs handlers
  // late, on the goroutine's own stack, with a context copied when the
  // signal arrived: everything live is then above this very frame, once
  // the callee-saved registers nobody on the way here saved are spilled.
  __builtin_unwind_init();
  const uintptr_t here = internal::stack_pointer();
  const stack::Stack& s = m->curg->stack;
  const bool on_goroutine_stack = here >= s.lo && here < s.hi;
  m->signal_scan_from.store(on_goroutine_stack ? here : 0, std::memory_order_relaxed);
  m->signal_fp.store(on_goroutine_stack ? reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) : 0,
                     std::memory_order_relaxed);
  m->signal_context.store(uctx, std::memory_order_release);
  if (p) {
    // stopped_in_signal too is read by the stopper once the P is stopped.
    p->stopped_in_signal.store(true, std::memory_order_relaxed);
    PStatus running = PStatus::kRunning;
    if (!p->status.compare_exchange_strong(running, PStatus::kGcStop, std::memory_order_acq_rel)) {
      p->stopped_in_signal.store(false, std::memory_order_relaxed);
      m->signal_context.store(nullptr, std::memory_order_release);
      return false;
    }
  }
  sched.stop_note.wakeup();
  while (world_generation.load(std::memory_order_acquire) == generation)
    internal::futex_wait(&world_generation, generation);
  return true;
}

void on_preempt_signal(int, siginfo_t* info, void* uctx) {
  M* m = current_m();
  // g0 notices a stop or a shutdown by itself in the scheduler loop; a
  // thread holding a lock is asked again later.
  if (!m || !m->curg || internal::locks_held() != 0 || m->stopping_world) return;
  const int saved_errno = errno;  // the interrupted code must not see ours
  if (sched.shutdown.load(std::memory_order_acquire) && !m->in_blocking_call()) {
    // Stopped for good where it stands; but not inside a shared library
    // (malloc, stdio), whose locks the rest of the process still needs:
    // then it is asked again a moment later.
    const auto* uc = static_cast<const ucontext_t*>(uctx);
    if (!internal::in_shared_library(uintptr_t(uc->uc_mcontext.gregs[REG_RIP]))) park_forever(m);
    errno = saved_errno;
    return;
  }
  (void)info;
  if (sched.gcwaiting.load(std::memory_order_acquire)) {
    const uint32_t generation = world_generation.load(std::memory_order_acquire);
    // A zombie's P belongs to a runtime that is gone.
    P* p = m->abandoned.load(std::memory_order_acquire) ? nullptr : m->p;
    const bool holds_running_p = p && p->m.load(std::memory_order_relaxed) == m &&
                                 p->status.load(std::memory_order_acquire) == PStatus::kRunning;
    // Otherwise its P is taken, idle or someone else's: a thread in
    // gort::blocking, which the stopper waits for by M rather than by P.
    const bool stopped = holds_running_p && stop_until_restart(m, p, generation, uctx);
    if (!stopped && m->in_blocking_call()) stop_until_restart(m, nullptr, generation, uctx);
  }
  errno = saved_errno;
}

void take_idle_ps(StwStats& stats) {
  internal::assert_lock_held(sched.lock);
  while (P* p = pidleget()) {
    p->status.store(PStatus::kGcStop, std::memory_order_release);
    ++stats.idle_or_blocking;
  }
}

bool timers_due(const P* p) {
  const int64_t first = p->timers.first_when();
  return first != 0 && first <= internal::nanotime();
}

// Every P but mine stopped? Asks the running ones to stop on the way.
bool ps_stopped(P* mine, int64_t waited, StwStats& stats) {
  bool all = true;
  for (P* p : sched.allp) {
    if (p == mine) continue;
    PStatus st = p->status.load(std::memory_order_acquire);
    if (st == PStatus::kSyscall && p->status.compare_exchange_strong(st, PStatus::kGcStop, std::memory_order_acq_rel)) {
      ++stats.idle_or_blocking;
      continue;
    }
    if (st == PStatus::kIdle && p->runq.empty() && !timers_due(p) &&
        p->handoff.exchange(false, std::memory_order_acq_rel)) {
      // On its way to an M that is still waking up (10-40 us on a busy
      // machine, most of a pause) to look for work elsewhere: stop it here
      // instead; the M finds it gone and sleeps again. Not a P with work of
      // its own, goroutines queued or timers due: under stops closer together
      // than a thread takes to wake (a goroutine calling gc::collect in a
      // loop), each restart would hand it on and each stop take it back,
      // and that work would never run (test_hostile's after_func case hung
      // so, about one run in 300 with three copies on two cores).
      p->status.store(PStatus::kGcStop, std::memory_order_release);
      ++stats.idle_or_blocking;
      continue;
    }
    if (st == PStatus::kIdle) {
      // Handed back to the idle list after we emptied it (an M that was
      // finishing a turn): take it again.
      internal::LockGuard l(sched.lock);
      take_idle_ps(stats);
      all = false;
      continue;
    }
    if (st == PStatus::kRunning) {
      all = false;
      if (G* g = p->running.load(std::memory_order_acquire)) request_preempt(g);
      M* holder = p->m.load(std::memory_order_acquire);  // stale at worst: the handler re-checks
      if (waited > kSignalAfterNs && holder) holder->signal_stop();
    }
  }
  return all;
}

// Every thread inside gort::blocking parked in the handler? This run's Ms
// and the zombies earlier runs left in their blocking calls alike.
bool blocking_threads_stopped(M* self) {
  bool all = true;
  internal::LockGuard l(sched.lock);
  for_each_m_with_goroutine([&](M* m) {
    if (m == self || !m->in_blocking_call() || m->signal_context.load(std::memory_order_acquire)) return;
    all = false;
    m->signal_stop();
  });
  return all;
}

void count_blocking_threads(M* self, StwStats& stats) {
  internal::LockGuard l(sched.lock);
  for_each_m_with_goroutine([&](M* m) {
    if (m != self && m->in_blocking_call() && m->signal_context.load(std::memory_order_acquire))
      ++stats.blocking_threads;
  });
}

}  // namespace

void assert_world_stopped() {
  GORT_CHECK(stopper.load(std::memory_order_acquire) == current_m() && sched.gcwaiting.load(std::memory_order_acquire),
             "the caller has stopped the world");
}

[[noreturn]] void park_forever(M* m) {
  m->abandoned.store(true, std::memory_order_release);
  for (;;) internal::futex_wait(&never_changes, 0);
}

void M::signal_stop() const {
  if (const pthread_t t = pthread.load(std::memory_order_acquire)) pthread_kill(t, SIGURG);
}

void install_preempt_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_preempt_signal;
    // SA_RESTART: a thread interrupted inside a system call resumes it.
    // Not under ThreadSanitizer, which runs the handler only once the call
    // returns: a read() that is restarted for ever would never let the
    // thread stop (the call returns EINTR there instead).
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
#if !defined(__SANITIZE_THREAD__)
    sa.sa_flags |= SA_RESTART;
#endif
    sigemptyset(&sa.sa_mask);
    sigaction(SIGURG, &sa, nullptr);
  });
}

StwStats stop_the_world() {
  M* self = current_m();
  if (!self || !self->curg || !self->p) internal::throw_error("stop_the_world outside a goroutine");
  // One stopper at a time (Go's worldsema). A second one waits as any
  // goroutine does: it yields, and its P is stopped with the others.
  M* no_one = nullptr;
  while (!stopper.compare_exchange_weak(no_one, self, std::memory_order_acq_rel)) {
    no_one = nullptr;
    yield();
    self = current_m();
  }
  P* mine = self->p;
  StwStats stats;
  const int64_t start = internal::nanotime();
  self->stopping_world = true;
  {
    internal::LockGuard l(sched.lock);
    sched.gcwaiting.store(true, std::memory_order_release);
    sched.stop_note.clear();
    take_idle_ps(stats);
  }
  for (;;) {
    if (sched.shutdown.load(std::memory_order_acquire)) {
      // main returned: the world is going away, and the Ms we wait for
      // are leaving their loops instead of stopping.
      start_the_world();
      return StwStats{};
    }
    const int64_t waited = internal::nanotime() - start;
    const bool ps = ps_stopped(mine, waited, stats);
    if (ps && (sched.threads_in_blocking_calls.load(std::memory_order_acquire) == 0 || blocking_threads_stopped(self)))
      break;
    sched.stop_note.sleep_for(kRecheckNs, waited < kStopSpinNs ? kRecheckNs : 0);
    sched.stop_note.clear();
  }
  for (P* p : sched.allp) {
    if (p == mine) continue;
    if (p->stopped_in_signal.load(std::memory_order_acquire)) ++stats.stopped_by_signal;
  }
  if (sched.threads_in_blocking_calls.load(std::memory_order_acquire) != 0) count_blocking_threads(self, stats);
  stats.stopped = true;
  stopped_in_handler = stats.stopped_by_signal + stats.blocking_threads;
  stats.stopped_at_safepoint = int(sched.allp.size()) - 1 - stats.stopped_by_signal - stats.idle_or_blocking;
  stats.wait_ns = internal::nanotime() - start;
  return stats;
}

int threads_stopped_in_handler() {
  assert_world_stopped();
  return stopped_in_handler;
}

int64_t start_the_world() {
  M* self = current_m();
  stopped_in_handler = 0;
  P* mine = self->p;
  internal::RawVector<P*> to_start;  // off malloc: the world is still stopped
  {
    internal::LockGuard l(sched.lock);
    sched.gcwaiting.store(false, std::memory_order_release);
    for (P* p : sched.allp) {
      if (p == mine || p->status.load(std::memory_order_acquire) != PStatus::kGcStop) continue;
      if (p->stopped_in_signal.load(std::memory_order_acquire)) {
        // Its M is still in the handler and goes on running its goroutine
        // when it wakes; the P is running again from this moment, so the
        // next stop_the_world cannot mistake it for a stopped one.
        p->stopped_in_signal.store(false, std::memory_order_relaxed);
        p->status.store(PStatus::kRunning, std::memory_order_release);
        continue;
      }
      p->m.store(nullptr, std::memory_order_relaxed);
      p->status.store(PStatus::kIdle, std::memory_order_release);
      if (!p->runq.empty()) to_start.push_back(p);
      else pidleput(p);
    }
    for_each_m_with_goroutine([](M* m) { m->signal_context.store(nullptr, std::memory_order_release); });
  }
  // Threads parked in the signal handler resume their goroutines.
  world_generation.fetch_add(1, std::memory_order_acq_rel);
  internal::futex_wake(&world_generation, INT32_MAX);
  self->stopping_world = false;
  stopper.store(nullptr, std::memory_order_release);
  for (P* p : to_start) startm(p, false);
  const int64_t running = internal::nanotime();
  wakep();
  return running;
}

}  // namespace gort::sched
