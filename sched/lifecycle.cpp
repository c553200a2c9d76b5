// How the runtime starts and stops (Go's schedinit, main and exit): gort::run
// sets up the Ps and sysmon, runs main, and when main returns tears
// everything down at once - leaving behind, never waiting for, the threads
// still inside a blocking call or a loop without safe points.
#include <pthread.h>
#include <unistd.h>

#include <exception>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gort/detail/safepoint.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/stack_pointer.hpp"
#include "sched/garena.hpp"
#include "sched/hooks.hpp"
#include "sched/netpoll.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"
#include "stack/overflow.hpp"
#include "stack/pool.hpp"
#include "stack/space.hpp"

namespace gort::sched {

namespace {

std::thread sysmon_thread;

uint64_t goroutine_id_for_signal() {
  M* m = current_m();
  G* g = m ? m->curg : nullptr;
  return g ? g->id : 0;
}

const char* describe(const G* g) {
  switch (g->status.load(std::memory_order_acquire)) {
    case GStatus::kRunnable:
      return "runnable";
    case GStatus::kRunning:
      return g->m && g->m->in_blocking_call() ? "syscall" : "running";
    case GStatus::kWaiting:
      return g->wait_reason ? g->wait_reason : "waiting";
    default:
      return nullptr;
  }
}

// For the fatal path: every live goroutine and what it waits for.
void print_goroutines(int fd) {
  // The dying thread may hold the lock itself; then the list is skipped.
  if (!sched.allg_lock.try_lock()) return;
  for (G* g : sched.allgs) {
    const char* state = describe(g);
    if (!state) continue;
    internal::Message line;
    line.put("goroutine ").put(g->id).put(" [").put(state).put("]:\n\n");
    if (::write(fd, line.data(), line.size()) < 0) break;
  }
  sched.allg_lock.unlock();
}

void compute_steal_strides(uint32_t n) {
  sched.steal_strides.clear();
  for (uint32_t i = 1; i <= n; ++i)
    if (std::gcd(i, n) == 1) sched.steal_strides.push_back(i);
}

// Ms that were left behind by a shutdown (inside a blocking call, or parked
// for good in the stop signal's handler). Their threads may still run, so
// their records live on; kept here so that leak checkers see them owned.
std::vector<M*> abandoned_ms;

// Waits until every M has left its scheduler loop, or has been left behind
// where it stands: inside gort::blocking (it leaves when the call returns)
// or in a loop without safe points (stopped by signal for good). Returns
// the stacks such threads still stand on, which must not be reused.
std::vector<stack::Stack> retire_ms(const std::vector<M*>& ms) {
  std::vector<stack::Stack> in_use;
  std::vector<bool> done(ms.size(), false);
  const int64_t start = internal::nanotime();
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < ms.size(); ++i) {
      if (done[i]) continue;
      M* m = ms[i];
      BlockingState in_call = BlockingState::kInCall;
      G* stays;  // the goroutine whose stack the abandoned thread keeps
      if (m->exited.load(std::memory_order_acquire)) {
        m->thread.join();
        delete m;
        done[i] = true;
        continue;
      }
      if (m->abandoned.load(std::memory_order_acquire)) {
        stays = m->curg;  // parked for good in the signal handler: curg never changes again
      } else if (m->blocking.compare_exchange_strong(in_call, BlockingState::kAbandoned, std::memory_order_acq_rel)) {
        m->abandoned.store(true, std::memory_order_release);
        stays = m->blocking_g.load(std::memory_order_relaxed);
      } else {
        // Still running a goroutine that has not reached a safe point, or
        // runtime code on its way out. Give it a moment, then the signal.
        all = false;
        m->park.wakeup();
        if (internal::nanotime() - start > 1000000) m->signal_stop();
        continue;
      }
      if (stays) in_use.push_back(stays->stack);
      m->thread.detach();
      abandoned_ms.push_back(m);
      done[i] = true;
    }
    if (all) return in_use;
    netpoll_break();
    usleep(50);
  }
}

void teardown() {
  sched.shutdown.store(true, std::memory_order_seq_cst);
  // Every safe point now takes its slow path, where it sees the shutdown.
  detail::preempt_requests.fetch_add(1, std::memory_order_seq_cst);
  sched.sysmon_note.wakeup();
  if (sysmon_thread.joinable()) sysmon_thread.join();
  std::vector<M*> ms;
  {
    internal::LockGuard l(sched.lock);
    ms = sched.allm;
  }
  for (M* m : ms) m->park.wakeup();
  netpoll_break();
  const std::vector<stack::Stack> in_use = retire_ms(ms);
  netpoll_close();

  // Goroutines still blocked or queued die with the runtime, as they do
  // when a Go program's main returns.
  auto still_used = [&](const stack::Stack& s) {
    for (const stack::Stack& u : in_use)
      if (u.lo == s.lo) return true;
    return false;
  };
  for (G* g : sched.allgs) {
    if (g->stack && !still_used(g->stack)) stack::Pool::get().give(&g->stack, 1);
    if (!g->ctx && g->fn.discard && g->status.load() == GStatus::kRunnable) g->fn.discard(g->fn);
    g->~G();
  }
  GArena::get().reset();
  for (P* p : sched.allp) {
    p->stacks.drain_all();
    internal::LockGuard l(p->timers.lock);
    p->timers.clear();
  }
  for (P* p : sched.allp) {
    if (hooks().release_p) hooks().release_p(p);
    delete p;
  }
  sched.allp.clear();
  sched.allm.clear();
  sched.allgs.clear();
  sched.runq.clear();
  sched.runqsize.store(0);
  sched.gfree_batches.clear();
  sched.midle = nullptr;
  sched.pidle = nullptr;
  sched.npidle.store(0);
  sched.nmspinning.store(0);
  sched.goid_gen.store(0);
  sched.foreign_spawned.store(0);
  sched.main_started = false;
  sched.threads_at_start.clear();
  sched.running.store(false, std::memory_order_release);
}

// The thread that called gort::run sleeps here until main returns. Its
// stack holds the caller's variables, which goroutines may fill with
// collected pointers (a `[&]` capture), so the collector scans it: from
// here, where every callee-saved register of the callers is spilled, to the
// top of the thread's stack.
__attribute__((noinline)) void wait_for_main() {
  __builtin_unwind_init();
  pthread_attr_t attr;
  void* base = nullptr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &base, &size);
    pthread_attr_destroy(&attr);
  }
  sched.runner_stack_lo.store(internal::stack_pointer(), std::memory_order_relaxed);
  sched.runner_stack_hi.store(reinterpret_cast<uintptr_t>(base) + size, std::memory_order_release);
  sched.main_done.sleep();
  sched.runner_stack_hi.store(0, std::memory_order_release);
}

}  // namespace

void run_main(void (*fn)(void*), void* arg, int32_t gomaxprocs) {
  if (sched.running.exchange(true, std::memory_order_acq_rel))
    throw std::logic_error("gort::run: the runtime is already running");
  sched.shutdown.store(false);
  sched.main_returned.store(false);
  detail::preempt_requests.store(0);
  sched.main_panic = nullptr;
  sched.main_done.clear();
  sched.sysmon_note.clear();
  sched.sysmon_wait.store(false);

  internal::set_death_hooks({&goroutine_id_for_signal, &print_goroutines});
  stack::install_overflow_handler();
  install_preempt_signal();
  sched.gcwaiting.store(false);
  sched.canary_mode = stack::Space::get().guard_mode() == stack::GuardMode::kCanary;
  netpoll_init();
  sched.lastpoll.store(internal::nanotime());
  sched.poll_until.store(0);

  sched.gomaxprocs = gomaxprocs;
  compute_steal_strides(uint32_t(gomaxprocs));
  for (int32_t i = 0; i < gomaxprocs; ++i) {
    P* p = new P;
    p->id = i;
    sched.allp.push_back(p);
  }
  {
    internal::LockGuard l(sched.lock);
    for (int32_t i = gomaxprocs - 1; i >= 0; --i) pidleput(sched.allp[size_t(i)]);
  }

  sysmon_thread = std::thread(sysmon_main);
  {
    // Threads there now (the caller, sysmon, sanitizer helpers, threads
    // left from an earlier run) are not wakers that checkdead must wait
    // for; Ms are known by their ids.
    internal::LockGuard l(sched.lock);
    sched.threads_at_start = thread_ids();
  }
  G* main = newproc_prepare();
  main->is_main = true;
  main->fn.emplace([fn, arg] { fn(arg); });
  newproc_start(main);
  {
    internal::LockGuard l(sched.lock);
    sched.main_started = true;
  }

  wait_for_main();
  std::exception_ptr panic = sched.main_panic;
  teardown();
  if (panic) std::rethrow_exception(panic);
}

}  // namespace gort::sched
