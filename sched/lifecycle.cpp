// How the runtime starts and stops (Go's schedinit, main and exit): gort::run
// sets up the Ps and sysmon, runs main, and when main returns tears
// everything down at once - leaving behind, never waiting for, the threads
// still inside a blocking call or a loop without safe points.
#include <pthread.h>
#include <unistd.h>

#include <exception>
#include <new>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "gort/detail/safepoint.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/numa.hpp"
#include "runtime/internal/shared_library.hpp"
#include "runtime/internal/stack_pointer.hpp"
#include "sched/garena.hpp"
#include "sched/hooks.hpp"
#include "sched/netpoll.hpp"
#include "sched/panic.hpp"
#include "sched/placement.hpp"
#include "sched/sched.hpp"
#include "sched/sigquit.hpp"
#include "sched/stw.hpp"
#include "sched/traceback.hpp"
#include "sched/trace.hpp"
#include "stack/overflow.hpp"
#include "stack/pool.hpp"
#include "stack/space.hpp"

// glibc: the stack pointer _start found (no header declares it; the
// sanitizers' runtimes read it the same way).
extern "C" void* __libc_stack_end;

namespace gort::sched {

namespace {

std::thread sysmon_thread;

uint64_t goroutine_id_for_signal() {
  M* m = current_m();
  G* g = m ? m->curg : nullptr;
  return g ? g->id : 0;
}

// For the fatal path: every live goroutine and what it waits for.
void print_goroutines(int fd) {
  const GArena& arena = GArena::get();
  for (size_t i = 0, n = arena.count(); i < n; ++i) {
    const G* g = arena.at(i);
    const char* state = goroutine_state(g);
    if (!state) continue;
    internal::Message line;
    line.put("goroutine ").put(g->id).put(" [").put(state).put("]:\n\n");
    if (::write(fd, line.data(), line.size()) < 0) break;
  }
}

void compute_steal_strides(uint32_t n) {
  sched.steal_strides.clear();
  for (uint32_t i = 1; i <= n; ++i)
    if (std::gcd(i, n) == 1) sched.steal_strides.push_back(i);
}

// ---- the M factory ---------------------------------------------------------
//
// New Ms are made here, on a thread of their own (Go's templateThread does
// the same for a related reason): whoever asks may hold a runtime lock or
// be halfway through a switch, where it must not call malloc or
// pthread_create - a thread stopped by signal may hold their locks.

std::thread factory_thread;
internal::Note factory_note;
std::atomic<uint32_t> wanted_spinning{0};
std::atomic<uint32_t> wanted_plain{0};

void make_m(bool spinning) {
  M* m = new M;
  m->spinning = spinning;
  {
    // Listed before its thread exists: the moment it runs a goroutine, a
    // stop of the world must find it (its registers are roots).
    internal::LockGuard l(sched.lock);
    m->id = int32_t(sched.allm.size());
    m->rand.state = uint64_t(internal::nanotime()) ^ (uint64_t(m->id) << 32);
    sched.allm.push_back(m);
  }
  m->thread = std::thread(mstart, m);
}

uint32_t take_all(std::atomic<uint32_t>& n) { return n.exchange(0, std::memory_order_acq_rel); }

void factory_main() {
  sched.factory_tid.store(gettid(), std::memory_order_release);
  while (!sched.shutdown.load(std::memory_order_acquire)) {
    factory_note.sleep();
    factory_note.clear();
    for (uint32_t n = take_all(wanted_spinning); n > 0; --n) {
      if (sched.shutdown.load(std::memory_order_acquire)) {
        sched.nmspinning.fetch_sub(1, std::memory_order_acq_rel);  // never started
        continue;
      }
      make_m(true);
    }
    for (uint32_t n = take_all(wanted_plain); n > 0 && !sched.shutdown.load(std::memory_order_acquire); --n)
      make_m(false);
  }
}

// ---- leaving goroutines behind ------------------------------------------------

// Ms that were left behind by a shutdown: parked for good in the stop
// signal's handler, or still inside a blocking call (zombies). Their threads
// outlive the runtime, so their records do too (and leak checkers see them
// owned here).
std::vector<M*> abandoned_ms;

void leave_behind(M* m) {
  m->thread.detach();
  abandoned_ms.push_back(m);
  internal::LockGuard l(sched.lock);
  sched.abandoned_tids.push_back(m->tid.load(std::memory_order_acquire));
}

// Waits until every M has left its scheduler loop, or has been left behind
// where it stands: inside gort::blocking (it leaves when the call returns)
// or in a loop without safe points (stopped by signal for good).
//
// The Ms that left are joined and freed only once all have: until then a
// goroutine still running somewhere may be in the middle of a collection,
// walking allm and signalling its threads (a thread id is not reused
// before its join).
void retire_ms(const std::vector<M*>& ms) {
  std::vector<bool> done(ms.size(), false);
  std::vector<M*> exited;
  const int64_t start = internal::nanotime();
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < ms.size(); ++i) {
      if (done[i]) continue;
      M* m = ms[i];
      BlockingState in_call = BlockingState::kInCall;
      if (m->exited.load(std::memory_order_acquire)) {
        exited.push_back(m);
      } else if (m->abandoned.load(std::memory_order_acquire)) {
        leave_behind(m);
      } else if (m->blocking.compare_exchange_strong(in_call, BlockingState::kAbandoned, std::memory_order_acq_rel)) {
        m->abandoned.store(true, std::memory_order_release);
        leave_behind(m);
        internal::LockGuard l(sched.lock);
        sched.zombies.push_back(m);
      } else {
        // Still running a goroutine that has not reached a safe point, or
        // runtime code on its way out. Give it a moment, then the signal.
        all = false;
        m->park.wakeup();
        if (internal::nanotime() - start > 1000000) m->signal_stop();
        continue;
      }
      done[i] = true;
    }
    if (all) break;
    netpoll_break();
    usleep(50);
  }
  for (M* m : exited) {
    m->thread.join();
    delete m;
  }
}

// Is g the goroutine of a zombie, whose thread still runs a blocking call on
// its stack and reads its closure?
bool zombie_goroutine(const G* g) {
  for (M* m : sched.zombies)
    if (m->in_blocking_call() && m->blocking_g.load(std::memory_order_relaxed) == g) return true;
  return false;
}

// Goroutines still blocked or queued die with the runtime, as they do when
// a Go program's main returns; nothing of the runtime may point at them
// afterwards, since their stacks and records serve the next gort::run.
void bury_goroutines() {
  purge_channel_waiters();
  purge_sema_waiters();
  netpoll_purge();
  if (hooks().forget_stacks) hooks().forget_stacks();
  GList batch;
  const GArena& arena = GArena::get();
  for (size_t i = 0, n = arena.count(); i < n; ++i) {
    G* g = arena.at(i);
    if (zombie_goroutine(g)) continue;
    if (g->stack) stack::Pool::get().give(&g->stack, 1);
    if (!g->ctx && g->fn.discard && g->status.load() == GStatus::kRunnable) g->fn.discard(g->fn);
    g->~G();
    new (g) G;
    batch.push_back(g);
    if (batch.size == 32) {
      sched.gfree_batches.push_back(batch);
      batch = {};
    }
  }
  if (!batch.empty()) sched.gfree_batches.push_back(batch);
}

void teardown() {
  sched.shutdown.store(true, std::memory_order_seq_cst);
  // Every safe point now takes its slow path, where it sees the shutdown.
  detail::preempt_requests.fetch_add(1, std::memory_order_seq_cst);
  sched.sysmon_note.wakeup();
  if (sysmon_thread.joinable()) sysmon_thread.join();
  factory_note.wakeup();
  if (factory_thread.joinable()) factory_thread.join();
  std::vector<M*> ms(sched.allm.begin(), sched.allm.end());  // no M is made any more
  for (M* m : ms) m->park.wakeup();
  netpoll_break();
  retire_ms(ms);
  netpoll_close();
  for (P* p : sched.allp) {
    internal::LockGuard l(p->timers.lock);
    p->timers.clear();
  }
  sched.gfree_batches.clear();
  bury_goroutines();
  for (P* p : sched.allp) {
    p->stacks.drain_all();
    if (hooks().release_p) hooks().release_p(p);
    trace::retire_p(p);
    delete p;
  }
  stack::Pool::get().release_all();
  sched.allp.clear();
  sched.allm.clear();
  sched.runq.clear();
  sched.runqsize.store(0);
  sched.midle = nullptr;
  sched.pidle = nullptr;
  sched.npidle.store(0);
  sched.nmspinning.store(0);
  sched.goid_gen.store(0);
  sched.foreign_spawned.store(0);
  sched.main_started = false;
  internal::numa::undo_bind();
  sched.running.store(false, std::memory_order_release);
}

// The top of the calling thread's frames. On the process's first thread
// the stack goes on above _start's frame (__libc_stack_end) with the
// arguments, the environment and the auxiliary vector, kilobytes that hold
// no collected pointer: the collector rescans this stack in every mark
// termination, so it stops below them.
uintptr_t top_of_frames() {
  pthread_attr_t attr;
  void* base = nullptr;
  size_t size = 0;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    pthread_attr_getstack(&attr, &base, &size);
    pthread_attr_destroy(&attr);
  }
  const auto lo = reinterpret_cast<uintptr_t>(base);
  const uintptr_t hi = lo + size;
  const auto process_start = reinterpret_cast<uintptr_t>(__libc_stack_end);
  return process_start > lo && process_start < hi ? process_start : hi;
}

// The thread that called gort::run starts main and sleeps here until main
// returns. Its stack holds the caller's variables, which goroutines may fill
// with collected pointers (a `[&]` capture), so the collector scans it: from
// here, where every callee-saved register of the callers is spilled, to the
// top of the thread's frames - published before main can run and collect.
__attribute__((noinline)) void run_and_wait_for_main(G* main) {
  __builtin_unwind_init();
  sched.runner_stack_lo.store(internal::stack_pointer(), std::memory_order_relaxed);
  sched.runner_stack_hi.store(top_of_frames(), std::memory_order_release);
  newproc_start(main);
  {
    internal::LockGuard l(sched.lock);
    sched.main_started = true;
  }
  // Main may have blocked for good already, and every M and sysmon found
  // the runtime alive only because main had not started: sysmon looks again.
  sched.sysmon_note.wakeup();
  sched.main_done.sleep();
  sched.runner_stack_hi.store(0, std::memory_order_release);
}

}  // namespace

bool zombie_stack(const stack::Stack& slot) {
  for (M* m : sched.zombies)
    if (m->in_blocking_call() && m->blocking_g.load(std::memory_order_relaxed)->stack.lo == slot.lo) return true;
  return false;
}

void request_new_m(bool spinning) {
  (spinning ? wanted_spinning : wanted_plain).fetch_add(1, std::memory_order_acq_rel);
  factory_note.wakeup();
}

namespace {
// proc_time_ns's parts: the runs that ended, and when this one started (0:
// none runs).
std::atomic<int64_t> ended_runs_proc_ns{0};
std::atomic<int64_t> run_started_ns{0};
}  // namespace

int64_t proc_time_ns() {
  const int64_t started = run_started_ns.load(std::memory_order_acquire);
  const int64_t this_run = started ? int64_t(sched.gomaxprocs) * (internal::nanotime() - started) : 0;
  return ended_runs_proc_ns.load(std::memory_order_acquire) + this_run;
}

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

  // Before any thread of the runtime starts: they inherit it.
  const QuitSignalBlocked quit_to_sysmon;
  internal::set_death_hooks({&goroutine_id_for_signal, &print_goroutines});
  stack::install_overflow_handler();
  install_preempt_signal();
  install_quit_signal();
  install_panic_handler();
  internal::note_shared_libraries();
  sched.gcwaiting.store(false);
  sched.canary_mode = stack::Space::get().guard_mode() == stack::GuardMode::kCanary;
  netpoll_init();
  sched.lastpoll.store(internal::nanotime());
  sched.poll_until.store(0);

  sched.gomaxprocs = gomaxprocs;
  run_started_ns.store(internal::nanotime(), std::memory_order_release);
  compute_steal_strides(uint32_t(gomaxprocs));
  for (int32_t i = 0; i < gomaxprocs; ++i) {
    P* p = new P;
    p->id = i;
    sched.allp.push_back(p);
  }
  sched.numa = internal::numa::topology().aware();
  place_ps();
  // GORTNUMA=bind:N: this thread is bound before it makes any other, and
  // every thread of the runtime (sysmon, the M factory and the Ms it makes)
  // inherits the binding, as the threads of a process started by numactl do.
  internal::numa::bind_thread();
  {
    internal::LockGuard l(sched.lock);
    for (int32_t i = gomaxprocs - 1; i >= 0; --i) pidleput(sched.allp[size_t(i)]);
  }

  sched.runner_tid = gettid();
  sysmon_thread = std::thread(sysmon_main);
  factory_note.clear();
  factory_thread = std::thread(factory_main);
  G* main = newproc_prepare();
  main->is_main = true;
  main->fn.emplace([fn, arg] { fn(arg); });
  run_and_wait_for_main(main);
  ended_runs_proc_ns.fetch_add(int64_t(gomaxprocs) * (internal::nanotime() - run_started_ns.exchange(0)),
                               std::memory_order_acq_rel);
  // The SIGQUIT dump ends the process with status 2 when it is done.
  if (quit_pending()) {
    for (;;) pause();
  }
  std::exception_ptr panic = sched.main_panic;
  teardown();
  if (panic) std::rethrow_exception(panic);
}

}  // namespace gort::sched
