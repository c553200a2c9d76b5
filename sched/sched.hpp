// The scheduler's shared state and its internal interface (Go's schedt and
// the functions of proc.go). See sched/README.md for the algorithm.
#pragma once

#include <sys/types.h>
#include <atomic>
#include <cstdint>

#include <exception>
#include <vector>

#include "gort/detail/safepoint.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/note.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "sched/g.hpp"
#include "sched/globrunq.hpp"
#include "sched/m.hpp"
#include "sched/p.hpp"

namespace gort::sched {

struct Sched {
  internal::Lock lock;  // guards runq, midle, pidle, allm

  GlobalRunQueue runq;
  std::atomic<int32_t> runqsize{0};  // runq.size(), readable without the lock

  M* midle = nullptr;
  P* pidle = nullptr;
  std::atomic<int32_t> npidle{0};
  std::atomic<int32_t> nmspinning{0};

  std::vector<P*> allp;
  int32_t gomaxprocs = 0;
  std::vector<uint32_t> steal_strides;  // numbers coprime with gomaxprocs: steal orders
  // Several NUMA nodes: steal nearest first (sched/placement.hpp).
  bool numa = false;
  bool numa_pin = false;         // pin each M to the CPUs of its P's node
  internal::RawVector<M*> allm;  // off malloc: grows under lock

  // Free G records beyond what the Ps keep, in batches that move between a
  // P and here in O(1): no walking a list of Gs last touched by another core.
  internal::Lock gfree_lock;
  internal::RawVector<GList> gfree_batches;
  std::atomic<uint64_t> foreign_spawned{0};  // by threads without a P

  std::atomic<uint64_t> goid_gen{0};

  // The netpoller role: lastpoll == 0 while an M is blocked in netpoll,
  // until pollUntil (0: no deadline).
  std::atomic<int64_t> lastpoll{0};
  std::atomic<int64_t> poll_until{0};

  // stop_the_world in progress: Ms give up their Ps at the next chance.
  std::atomic<bool> gcwaiting{false};
  internal::Note stop_note;  // wakes the stopper when a P stops

  internal::Note sysmon_note;
  std::atomic<bool> sysmon_wait{false};

  bool canary_mode = false;  // no guard pages: check each stack's canary at every switch

  std::atomic<bool> running{false};
  std::atomic<bool> shutdown{false};
  std::atomic<bool> main_returned{false};
  internal::Note main_done;
  std::exception_ptr main_panic;

  // The runtime's own threads besides its Ms, which checkdead never counts
  // as possible wakers: the caller of gort::run, sysmon, the M factory.
  pid_t runner_tid = 0;
  std::atomic<pid_t> sysmon_tid{0};
  std::atomic<pid_t> factory_tid{0};
  bool main_started = false;  // under lock: the main goroutine is queued
  // Ms left inside a blocking call by an earlier run's shutdown, still
  // running C code on their goroutine's stack: stopped by signal and
  // scanned like this run's blocking calls until the call returns.
  internal::RawVector<M*> zombies;
  // Threads left behind by earlier runs: they never wake a goroutine again.
  internal::RawVector<pid_t> abandoned_tids;
  // The live part of the stack of the thread that called gort::run, while
  // it waits for main: a root range for the collector (0: none).
  std::atomic<uintptr_t> runner_stack_lo{0};
  std::atomic<uintptr_t> runner_stack_hi{0};
  // Threads whose M is inside gort::blocking (its BlockingState not
  // kNone), zombies included. Counted before the P says kSyscall, so a
  // stop of the world that found every P stopped and reads 0 here need
  // not look for threads to stop by signal under the lock (1-2 us of a
  // pause, the lock then being busy with the Ms that just stopped).
  std::atomic<int32_t> threads_in_blocking_calls{0};
};

extern Sched sched;

// The M running on this thread, or null. Not inlinable: a goroutine can move
// to another thread across any switch, so the thread-local's address must be
// recomputed on every call rather than cached by the compiler.
M* current_m();
// The running goroutine, or null on g0 and foreign threads.
G* current_g();

// Checked builds: this code runs on an M's own stack (g0), not a
// goroutine's: the scheduler loop, timers, finishing a switch there.
void assert_on_g0();
// Checked builds: a goroutine at a safe point holds no runtime lock.
void assert_no_locks_held();

// Parks the current goroutine. unlockf(g, arg) runs on g0 once g is fully
// switched out; returning false cancels the park and g resumes at once.
void park(bool (*unlockf)(G*, void*), void* arg, const char* reason);
// The common case (Go's goparkunlock): parks, and releases l once the
// goroutine is switched out, so a waker that takes l finds it parked.
void park_unlock(internal::Lock& l, const char* reason);
// Makes g runnable on the current P (or the global queue from a thread with
// no P). next puts it in runnext, to run as soon as the current G blocks.
void ready(G* g, bool next = true);
// Puts the current goroutine at the back of its P's run queue.
void yield();

// Cheap per-M random numbers (a thread-local generator off the runtime).
uint32_t fastrand();

// Go's sync_runtime_canSpin: may a goroutine busy-wait briefly for a lock?
// Only on a multi-P runtime with other Ps busy and no local work waiting.
bool can_spin(int iteration);

// Starts an M spinning for work if a P is idle and nobody is looking.
void wakep();
// P hand-over (Go's acquirep/releasep/pidleput/pidleget; the idle list
// functions need sched.lock held).
void acquirep(M* m, P* p);
P* releasep(M* m);
void pidleput(P* p);
P* pidleget();
P* pidleget_locking();  // takes sched.lock itself
// Run queues (Go's runqput and globrunqput/globrunqget, the latter two with
// sched.lock held).
void runqput(P* p, G* g, bool next);
void globrunqput(G* g);
G* globrunqget(P* p, int32_t max);
// A dead G's record goes back to p's free list (Go's gfput).
void gfput(P* p, G* g);
// Puts m to sleep until startm hands it a P (or the runtime stops).
void stopm(M* m);
// Hands p (null: any idle P) to an idle or new M.
void startm(P* p, bool spinning);
// Asks the M factory (lifecycle.cpp) for a new M; a spinning one counts
// in nmspinning already.
void request_new_m(bool spinning);
// A new M's thread: its scheduler loop.
void mstart(M* m);
// Starts the runtime with gomaxprocs Ps, runs fn(arg) as the main goroutine
// and tears everything down when it returns; rethrows its exception.
void run_main(void (*fn)(void*), void* arg, int32_t gomaxprocs);
// P-nanoseconds the runtime has had since the process started: each run's
// GOMAXPROCS times its length, the one under way included (Go's
// sched.totaltime, which integrates GOMAXPROCS over time for the same use:
// GCCPUFraction's denominator, since the collector's CPU time sums every
// run's cycles, each counted at the Ps it had).
int64_t proc_time_ns();
// Pieces of gort::go().
G* newproc_prepare();
void newproc_start(G* g);
// Starts one of the runtime's own goroutines (not counted by num_goroutine).
void start_system_goroutine(void (*fn)());
int64_t num_goroutine();
void sysmon_main();

// When the runtime shuts down, nothing of it may point at the goroutines it
// leaves behind: their stacks and records serve the next gort::run.
void purge_channel_waiters();  // chan.cpp

// Is slot the stack of a zombie (whose blocking call still runs on it)?
// sched.lock held, or the runtime stopped.
bool zombie_stack(const stack::Stack& slot);

// Calls fn on every M that may run a goroutine's code: this run's Ms and
// the zombies of earlier runs. sched.lock held.
template <class Fn>
void for_each_m_with_goroutine(Fn&& fn) {
  for (M* m : sched.allm) fn(m);
  for (M* m : sched.zombies)
    if (m->in_blocking_call()) fn(m);
}
void purge_sema_waiters();  // sema.cpp

// Go's checkdead: with no P running, can any goroutine ever run again?
// kDead does not return: the process ends with Go's deadlock message.
enum class DeadCheck {
  kAlive,           // something runs or may wake a goroutine
  kForeignThreads,  // only a thread outside the runtime could still wake one
  kDead,
};
DeadCheck checkdead();
// The ids of this process's threads, sorted: checkdead's census, taken once
// when the runtime starts (Sched::threads_at_start) and again at each check.
std::vector<pid_t> thread_ids();

// Go's entersyscall/exitsyscall, around gort::blocking(f). While f runs the
// M keeps its P but marks it kSyscall; sysmon hands such a P to another M if
// the call lasts. On return the M takes its P back if it is still there, or
// any idle P, or else queues the goroutine globally and goes to sleep.
void entersyscall();
void exitsyscall();
// m's thread is out of gort::blocking for good (zombies included).
void end_blocking_state(M* m);

// Preemption (cooperative): sysmon marks a goroutine that ran over 10 ms and
// bumps preempt_requests; every safe point reads that one counter and only
// on a non-zero value looks at its own goroutine.
void request_preempt(G* g);
void preempt_check_slow();
// Whether the running goroutine has been asked to yield (by sysmon, or by a
// stop of the world, which asks every running one): a long loop of the
// runtime's that cannot reach a safe point (marking, sweeping inside the
// allocator) ends early on it, as Go's gcDrain checks gp.preempt. One load
// while no goroutine at all has been asked.
bool running_goroutine_asked_to_yield();
inline bool yield_requested() {
  return detail::preempt_requests.load(std::memory_order_relaxed) != 0 && running_goroutine_asked_to_yield();
}
void handoffp(P* p);
// Whether a goroutine waits to run on p or in the global queue (Go's
// pollWork): work a P would otherwise be idle for gives way to it. A hint
// (thieves and other Ps change the queues), read without a lock.
inline bool work_waiting(const P* p) {
  return !p->runq.empty() || sched.runqsize.load(std::memory_order_relaxed) != 0;
}
// Queues goroutines readied by the netpoller (marked runnable already).
void inject(GList& list);

}  // namespace gort::sched
