// The scheduler proper: Ms looking for work, running goroutines, and the
// hand-offs between them. sched/README.md explains the design; the names
// follow Go's runtime/proc.go so the two can be read side by side.
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <numeric>
#include <stdexcept>
#include <typeinfo>

#include "gort/detail/safepoint.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/stack_pointer.hpp"
#include "sched/garena.hpp"
#include "sched/hooks.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/netpoll.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"
#include "stack/overflow.hpp"
#include "stack/space.hpp"

namespace gort::sched {

Sched sched;

namespace {
Hooks installed_hooks;
}  // namespace

void set_hooks(const Hooks& h) { installed_hooks = h; }
const Hooks& hooks() { return installed_hooks; }

namespace {

thread_local M* tls_m = nullptr;
bool canary_mode = false;

constexpr int32_t kGfreeLocalMax = 64;  // a P's free G records beyond this go global
constexpr int32_t kGfreeBatch = 32;
constexpr uint64_t kGoidBatch = 16;
constexpr int kStealTries = 4;

std::vector<uint32_t> steal_strides;  // numbers coprime with GOMAXPROCS
std::thread sysmon_thread;

uint64_t goroutine_id_for_signal() {
  M* m = tls_m;
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

// The thread ids of this process (/proc/self/task), sorted.
std::vector<pid_t> thread_ids() {
  std::vector<pid_t> ids;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* e = readdir(dir))
      if (e->d_name[0] != '.') ids.push_back(pid_t(std::atoi(e->d_name)));
    closedir(dir);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

// Is there a thread that the runtime did not start and that was not there
// when it started? Such a thread may still send on a channel or start a
// goroutine, so the runtime is not dead while it lives.
bool foreign_thread_exists() {  // sched.lock held
  for (pid_t tid : thread_ids()) {
    if (std::binary_search(sched.threads_at_start.begin(), sched.threads_at_start.end(), tid)) continue;
    bool ours = false;
    for (M* m : sched.allm) ours = ours || m->tid.load(std::memory_order_acquire) == tid;
    if (!ours) return true;  // an M still starting counts as foreign: no false verdict
  }
  return false;
}

}  // namespace

// ---- P and M bookkeeping (callers hold sched.lock where noted) ----------

void acquirep(M* m, P* p) {
  m->p = p;
  p->m.store(m, std::memory_order_relaxed);
  p->status.store(PStatus::kRunning, std::memory_order_release);
  if (sched.sysmon_wait.load(std::memory_order_relaxed) &&
      sched.sysmon_wait.exchange(false, std::memory_order_acq_rel))
    sched.sysmon_note.wakeup();
}

P* releasep(M* m) {
  P* p = m->p;
  p->m.store(nullptr, std::memory_order_relaxed);
  p->status.store(PStatus::kIdle, std::memory_order_release);
  m->p = nullptr;
  return p;
}

void pidleput(P* p) {  // sched.lock held
  p->link = sched.pidle;
  sched.pidle = p;
  sched.npidle.fetch_add(1, std::memory_order_acq_rel);
}

P* pidleget() {  // sched.lock held
  P* p = sched.pidle;
  if (p) {
    sched.pidle = p->link;
    sched.npidle.fetch_sub(1, std::memory_order_acq_rel);
  }
  return p;
}

namespace {

// ---- global run queue (sched.lock held) ----------------------------------

void globrunqput(G* g) {
  sched.runq.push(g);
  sched.runqsize.store(int32_t(sched.runq.size()), std::memory_order_relaxed);
}

// Takes a fair share of the global queue: one G to run now, the rest onto
// p's local queue.
G* globrunqget(P* p, int32_t max) {
  const int32_t size = int32_t(sched.runq.size());
  if (size == 0) return nullptr;
  int32_t n = size / sched.gomaxprocs + 1;
  if (n > size) n = size;
  if (max > 0 && n > max) n = max;
  if (n > int32_t(RunQueue::kSize / 2)) n = RunQueue::kSize / 2;
  G* g = sched.runq.pop();
  while (--n > 0) p->runq.push(sched.runq.pop());
  sched.runqsize.store(int32_t(sched.runq.size()), std::memory_order_relaxed);
  return g;
}

void runqput(P* p, G* g, bool next) {
  if (next) {
    g = p->runq.set_next(g);
    if (!g) return;
  }
  while (!p->runq.push(g)) {
    G* batch[RunQueue::kSize / 2];
    if (p->runq.take_half(batch)) {
      internal::LockGuard l(sched.lock);
      for (G* b : batch) globrunqput(b);
      globrunqput(g);
      return;
    }
  }
}

}  // namespace

void inject(GList& list) {
  if (list.empty()) return;
  const int32_t n = list.size;
  {
    internal::LockGuard l(sched.lock);
    while (G* g = list.pop_front()) globrunqput(g);
  }
  for (int32_t i = 0; i < n && sched.npidle.load(std::memory_order_acquire) > 0; ++i) wakep();
}

namespace {

// ---- G records -----------------------------------------------------------

G* gfget(P* p) {
  if (p && p->gfree.empty()) {
    internal::LockGuard l(sched.gfree_lock);
    if (!sched.gfree_batches.empty()) {
      p->gfree = sched.gfree_batches.back();
      sched.gfree_batches.pop_back();
    }
  }
  if (p) return p->gfree.pop_front();
  internal::LockGuard l(sched.gfree_lock);
  if (sched.gfree_batches.empty()) return nullptr;
  GList& batch = sched.gfree_batches.back();
  G* g = batch.pop_front();
  if (batch.empty()) sched.gfree_batches.pop_back();
  return g;
}

void gfput(P* p, G* g) {
  p->gfree.push_front(g);
  if (p->gfree.size < kGfreeLocalMax) return;
  // Cut a batch off our own list (these Gs are hot in this core's cache).
  GList batch;
  while (batch.size < kGfreeBatch) batch.push_back(p->gfree.pop_front());
  internal::LockGuard l(sched.gfree_lock);
  sched.gfree_batches.push_back(batch);
}

uint64_t next_goid(P* p) {
  if (!p) return sched.goid_gen.fetch_add(1, std::memory_order_relaxed) + 1;
  if (p->goid_next == p->goid_end) {
    p->goid_next = sched.goid_gen.fetch_add(kGoidBatch, std::memory_order_relaxed) + 1;
    p->goid_end = p->goid_next + kGoidBatch;
  }
  return p->goid_next++;
}

// ---- switching -----------------------------------------------------------
//
// Every jump carries, as its data, the goroutine that just switched out
// (null when the jump comes from g0). Whoever lands finishes that
// goroutine's switch: saves its context and parks, requeues or frees it
// (finish_switch_out). Landing on g0 is Go's mcall; landing directly on the
// next goroutine skips g0 altogether when the next G is already in this P's
// run queue, which halves the jumps of a channel hand-off.

void finish_switch_out(M* m, G* g);

// A switch runs from the moment the jumper changes m->curg until the lander
// has saved the previous context and finished its switch. In between, curg
// and the saved contexts disagree about which stack is live, so the thread
// must not be stopped by signal for a stack scan: the jumper counts the
// switch as a held lock and the lander releases it.
void begin_switch() { ++internal::locks_held; }
void end_switch() { --internal::locks_held; }

// Called on g's own stack each time it is resumed.
void resumed(G* g, const stack::Transfer& t) {
  M* m = g->m;  // set by whoever resumed us
  if (G* prev = static_cast<G*>(t.data)) {
    stack::finish_switch(g->asan_fake_stack, nullptr, nullptr);
    prev->ctx = t.fctx;
    finish_switch_out(m, prev);
  } else {
    m->g0ctx = t.fctx;
    stack::finish_switch(g->asan_fake_stack, &m->g0_stack_bottom, &m->g0_stack_size);
  }
  end_switch();
}

void goroutine_entry(stack::Transfer t);

// Makes g the running goroutine of m (g0 or a goroutine switching to it).
void prepare_to_run(M* m, G* g) {
  P* p = m->p;
  g->m = m;
  m->curg = g;
  g->status.store(GStatus::kRunning, std::memory_order_relaxed);
  p->running.store(g, std::memory_order_release);
  p->schedtick.store(p->schedtick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  p->executed.store(p->executed.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  if (!g->ctx) {
    g->stack = p->stacks.alloc();
    stack::unpoison(g->stack);
    g->ctx = stack::make_context(g->stack, goroutine_entry);
    g->tsan_fiber = stack::tsan_create_fiber();
  }
}

// The next goroutine to switch to directly, or null to go through g0: g0
// must run when the global queue is due its fair turn (every 61st
// schedule), when this P has expired timers, or when the runtime stops.
G* next_direct(M* m) {
  P* p = m->p;
  if (!p || (p->schedtick.load(std::memory_order_relaxed) + 1) % 61 == 0 ||
      sched.shutdown.load(std::memory_order_relaxed) || sched.gcwaiting.load(std::memory_order_relaxed))
    return nullptr;
  const int64_t timer = p->timers.first_when();
  if (timer != 0 && timer <= internal::nanotime()) return nullptr;
  bool from_next;
  return p->runq.pop(&from_next);
}

void switch_out(G* g, SwitchReason why) {
  M* m = g->m;
  begin_switch();
  m->reason = why;
  const bool never_resumed = why == SwitchReason::kExit || why == SwitchReason::kAbandon;
  void** fake = never_resumed ? nullptr : &g->asan_fake_stack;
  stack::Transfer t;
  G* next = why == SwitchReason::kAbandon ? nullptr : next_direct(m);
  if (next && !next->ctx && m->unlockf) {
    // Never run: binding its stack may page-fault, and that must not happen
    // while g's unlockf still holds g's lock (a channel's, say). g0 releases
    // the lock first, then starts `next`.
    m->next_from_switch = next;
    next = nullptr;
  }
  if (next) {
    prepare_to_run(m, next);
    stack::start_switch(fake, reinterpret_cast<const void*>(next->stack.lo), next->stack.size());
    stack::tsan_switch_to(next->tsan_fiber);
    t = stack::jump(next->ctx, g);
  } else {
    stack::start_switch(fake, m->g0_stack_bottom, m->g0_stack_size);
    stack::tsan_switch_to(m->tsan_g0_fiber);
    t = stack::jump(m->g0ctx, g);
  }
  resumed(g, t);  // unreachable for kExit and kAbandon
}

[[noreturn]] void fatal_panic(std::exception_ptr ep) {
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  internal::die_of_panic(what);
}

void goroutine_entry(stack::Transfer t) {
  G* g = current_m()->curg;
  resumed(g, t);
  try {
    g->fn.call(g->fn);
  } catch (...) {
    // A goroutine's uncaught exception is Go's unrecovered panic: fatal,
    // except in the main goroutine, where gort::run rethrows it.
    if (!g->is_main) fatal_panic(std::current_exception());
    sched.main_panic = std::current_exception();
  }
  switch_out(g, SwitchReason::kExit);
  __builtin_unreachable();
}

void gdestroy(P* p, G* g) {
  g->status.store(GStatus::kDead, std::memory_order_relaxed);
  p->stacks.free(g->stack);
  g->stack = {};
  g->ctx = nullptr;
  g->m = nullptr;
  g->asan_fake_stack = nullptr;
  stack::tsan_destroy_fiber(g->tsan_fiber);
  g->tsan_fiber = nullptr;
  p->exited.store(p->exited.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  const bool was_main = g->is_main;
  g->is_main = false;
  gfput(p, g);
  if (was_main) {
    sched.main_returned.store(true, std::memory_order_release);
    sched.main_done.wakeup();
  }
}

// Completes g's switch once its registers are saved: only now may g be
// published to wakers (unlockf), requeued, or have its stack freed.
void finish_switch_out(M* m, G* g) {
  if (canary_mode && !stack::Space::get().canary_intact(g->stack))
    stack::report_overflow(g->id, g->stack, "canary smashed");
  // A preemption request that arrived after g's last safe point is moot.
  if (g->preempt.load(std::memory_order_relaxed) && g->preempt.exchange(false))
    detail::preempt_requests.fetch_sub(1, std::memory_order_relaxed);
  P* p = m->p;
  switch (m->reason) {
    case SwitchReason::kPark: {
      g->status.store(GStatus::kWaiting, std::memory_order_release);
      auto unlockf = m->unlockf;
      void* arg = m->unlockarg;
      m->unlockf = nullptr;
      m->unlockarg = nullptr;
      // After unlockf returns true, g belongs to whoever wakes it.
      if (unlockf && !unlockf(g, arg)) {
        g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
        runqput(p, g, true);
      }
      break;
    }
    case SwitchReason::kYield:
      g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
      runqput(p, g, false);
      break;
    case SwitchReason::kPreempt:
    case SwitchReason::kNoP: {
      // The global queue, so that any P may pick it up (Go's gopreempt_m).
      g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
      {
        internal::LockGuard l(sched.lock);
        globrunqput(g);
      }
      if (m->reason == SwitchReason::kNoP) {
        // Only now is the goroutine's stack described by its saved context.
        m->blocking.store(BlockingState::kNone, std::memory_order_release);
        wakep();
      }
      break;
    }
    case SwitchReason::kExit:
      gdestroy(p, g);
      break;
    case SwitchReason::kAbandon:
      break;
  }
}

// Runs g on m until a goroutine switches back to g0 (g itself, or another
// one that g switched to directly), then finishes that one's switch.
void execute(M* m, G* g) {
  begin_switch();
  prepare_to_run(m, g);
  stack::start_switch(&m->g0_fake_stack, reinterpret_cast<const void*>(g->stack.lo), g->stack.size());
  stack::tsan_switch_to(g->tsan_fiber);
  const stack::Transfer t = stack::jump(g->ctx, nullptr);
  stack::finish_switch(m->g0_fake_stack, nullptr, nullptr);
  m->curg = nullptr;
  if (m->reason == SwitchReason::kAbandon) {
    // The runtime this goroutine belonged to is gone (or going): its G
    // record may already serve another goroutine.
    end_switch();
    return;
  }
  G* out = static_cast<G*>(t.data);
  out->ctx = t.fctx;
  finish_switch_out(m, out);
  end_switch();
}

// ---- finding work ----------------------------------------------------------

}  // namespace

void stopm(M* m) {
  {
    internal::LockGuard l(sched.lock);
    m->link = sched.midle;
    sched.midle = m;
  }
  m->park.sleep();
  m->park.clear();
  if (sched.shutdown.load(std::memory_order_acquire)) return;
  acquirep(m, m->nextp);
  m->nextp = nullptr;
}

namespace {
void mstart(M* m);
}  // namespace

// Hands p (or an idle P) to an idle M, creating one if there is none.
void startm(P* p, bool spinning) {
  M* m;
  {
    internal::LockGuard l(sched.lock);
    if (!p) p = pidleget();
    if (!p || sched.shutdown.load(std::memory_order_relaxed)) {
      if (p) pidleput(p);
      if (spinning) sched.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
      return;
    }
    m = sched.midle;
    if (m) {
      sched.midle = m->link;
    } else {
      // New threads are rare (at most a few more than GOMAXPROCS) and
      // creating one under the lock keeps teardown's join list exact.
      m = new M;
      m->id = int32_t(sched.allm.size());
      m->rand.state = uint64_t(internal::nanotime()) ^ (uint64_t(m->id) << 32);
      m->nextp = p;
      m->spinning = spinning;
      sched.allm.push_back(m);
      m->thread = std::thread(mstart, m);
      return;
    }
  }
  m->nextp = p;
  m->spinning = spinning;
  m->park.wakeup();
}

namespace {

// Gives m's P to a stop_the_world in progress and sleeps (Go's gcstopm).
void gcstopm(M* m) {
  if (m->spinning) {
    m->spinning = false;
    sched.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
  }
  P* p = m->p;
  p->m.store(nullptr, std::memory_order_relaxed);
  m->p = nullptr;
  p->status.store(PStatus::kGcStop, std::memory_order_release);
  sched.stop_note.wakeup();
  stopm(m);
}

void reset_spinning(M* m) {
  m->spinning = false;
  sched.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
  // We found work, so there may be more: keep one M looking.
  wakep();
}

int64_t earliest_timer() {
  int64_t first = 0;
  for (P* p : sched.allp) {
    const int64_t w = p->timers.first_when();
    if (w != 0 && (first == 0 || w < first)) first = w;
  }
  return first;
}

// Go's checkdead, called by an M about to sleep: if no P runs, no goroutine
// is queued, and nothing can ever ready one (no timer, no socket waited on,
// no thread inside gort::blocking, no thread outside the runtime that might
// send on a channel), every goroutine is blocked for good.
DeadCheck checkdead_locked() {  // sched.lock held
  if (!sched.main_started || sched.shutdown.load(std::memory_order_acquire) ||
      sched.main_returned.load(std::memory_order_acquire) ||
      sched.gcwaiting.load(std::memory_order_acquire))
    return DeadCheck::kAlive;
  if (sched.npidle.load(std::memory_order_acquire) != sched.gomaxprocs || !sched.runq.empty())
    return DeadCheck::kAlive;
  for (P* p : sched.allp)
    if (!p->runq.empty() || p->timers.first_when() != 0) return DeadCheck::kAlive;
  if (netpoll_waiters() > 0) return DeadCheck::kAlive;
  for (M* m : sched.allm)
    if (m->in_blocking_call()) return DeadCheck::kAlive;
  if (foreign_thread_exists()) return DeadCheck::kForeignThreads;
  return DeadCheck::kDead;
}

}  // namespace

DeadCheck checkdead() {
  internal::LockGuard l(sched.lock);
  const DeadCheck verdict = checkdead_locked();
  if (verdict == DeadCheck::kDead) {
    internal::Message m;
    m.put("all goroutines are asleep - deadlock!");
    internal::die(internal::DeathKind::kFatal, internal::Traceback::kAll, m);
  }
  return verdict;
}

namespace {

// Tries other Ps, in random order, four times over: half their run queue,
// and on the last round their runnext and their expired timers.
G* steal_work(M* m, bool* ran_timers) {
  P* self = m->p;
  const uint32_t n = uint32_t(sched.allp.size());
  for (int attempt = 0; attempt < kStealTries; ++attempt) {
    const bool last = attempt == kStealTries - 1;
    const uint32_t start = m->rand.next() % n;
    const uint32_t stride = steal_strides[m->rand.next() % steal_strides.size()];
    for (uint32_t k = 0; k < n; ++k) {
      P* victim = sched.allp[(start + k * stride) % n];
      if (victim == self) continue;
      if (last && victim->timers.first_when() != 0) {
        const int64_t now = internal::nanotime();
        if (victim->timers.first_when() <= now) {
          run_timers(victim, now);
          bool from_next;
          if (G* g = self->runq.pop(&from_next)) return g;
          *ran_timers = true;
        }
      }
      if (victim->runq.empty()) continue;
      const bool victim_running = victim->status.load(std::memory_order_acquire) == PStatus::kRunning;
      if (G* g = self->runq.steal_from(victim->runq, last, victim_running)) return g;
    }
  }
  return nullptr;
}

// Go's findRunnable: local work, global work, stealing, and finally sleep.
G* find_runnable(M* m) {
top:
  if (sched.shutdown.load(std::memory_order_acquire)) return nullptr;
  if (sched.gcwaiting.load(std::memory_order_acquire)) {
    gcstopm(m);
    goto top;
  }
  P* p = m->p;
  check_timers(p);

  // Every 61st schedule, look at the global queue first so it cannot starve
  // behind two goroutines that keep readying each other locally.
  if (p->schedtick.load(std::memory_order_relaxed) % 61 == 0 &&
      sched.runqsize.load(std::memory_order_relaxed) > 0) {
    internal::LockGuard l(sched.lock);
    if (G* g = globrunqget(p, 1)) return g;
  }
  bool from_next;
  if (G* g = p->runq.pop(&from_next)) return g;
  if (sched.runqsize.load(std::memory_order_relaxed) > 0) {
    internal::LockGuard l(sched.lock);
    if (G* g = globrunqget(p, 0)) return g;
  }

  // Sockets that became ready, if nobody is blocked in netpoll already.
  if (netpoll_waiters() > 0 && sched.lastpoll.load(std::memory_order_acquire) != 0) {
    GList list = netpoll(0);
    if (G* g = list.pop_front()) {
      inject(list);
      return g;
    }
  }

  // Spinning Ms are bounded: no more than half the busy Ps.
  const int32_t procs = sched.gomaxprocs;
  if (m->spinning || 2 * sched.nmspinning.load(std::memory_order_acquire) <
                         procs - sched.npidle.load(std::memory_order_acquire)) {
    if (!m->spinning) {
      m->spinning = true;
      sched.nmspinning.fetch_add(1, std::memory_order_acq_rel);
    }
    bool ran_timers = false;
    if (G* g = steal_work(m, &ran_timers)) return g;
    if (ran_timers) goto top;
  }

  // Nothing anywhere: give the P back.
  {
    internal::LockGuard l(sched.lock);
    if (G* g = globrunqget(p, 0)) return g;
    pidleput(releasep(m));
  }

  // A spinning M must re-check after it stops spinning: whoever queued work
  // while we were spinning saw nmspinning > 0 and woke nobody.
  const bool was_spinning = m->spinning;
  if (m->spinning) {
    m->spinning = false;
    sched.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
    bool work = sched.runqsize.load(std::memory_order_acquire) > 0;
    for (P* p2 : sched.allp) work = work || !p2->runq.empty();
    if (work) {
      P* idle;
      {
        internal::LockGuard l(sched.lock);
        idle = pidleget();
      }
      if (idle) {
        acquirep(m, idle);
        m->spinning = true;
        sched.nmspinning.fetch_add(1, std::memory_order_acq_rel);
        goto top;
      }
    }
  }

  // Become the poller, sleeping in epoll until the next timer of any P (or
  // for good, if only sockets are waited on), if nobody else holds that role.
  const int64_t poll_until = earliest_timer();
  if ((poll_until != 0 || netpoll_waiters() > 0) &&
      sched.lastpoll.exchange(0, std::memory_order_acq_rel) != 0) {
    sched.poll_until.store(poll_until, std::memory_order_release);
    int64_t delay = -1;
    if (poll_until != 0) {
      delay = poll_until - internal::nanotime();
      if (delay < 0) delay = 0;
    }
    GList list = netpoll(delay);
    sched.poll_until.store(0, std::memory_order_release);
    sched.lastpoll.store(internal::nanotime(), std::memory_order_release);
    if (sched.shutdown.load(std::memory_order_acquire)) return nullptr;
    P* idle;
    {
      internal::LockGuard l(sched.lock);
      idle = pidleget();
    }
    if (!idle) {
      inject(list);
    } else {
      acquirep(m, idle);
      if (G* g = list.pop_front()) {
        inject(list);
        return g;
      }
      if (was_spinning) {
        m->spinning = true;
        sched.nmspinning.fetch_add(1, std::memory_order_acq_rel);
      }
      goto top;
    }
  } else if (poll_until != 0) {
    const int64_t until = sched.poll_until.load(std::memory_order_acquire);
    if (until == 0 || until > poll_until) netpoll_break();
  }
  checkdead();
  stopm(m);
  goto top;
}

void mstart(M* m) {
  tls_m = m;
  m->pthread.store(pthread_self(), std::memory_order_release);
  m->tid.store(gettid(), std::memory_order_release);
  m->tsan_g0_fiber = stack::tsan_current_fiber();
  stack::AltSignalStack altstack;
  if (m->nextp) {
    acquirep(m, m->nextp);
    m->nextp = nullptr;
  }
  for (;;) {
    if (!m->p) {  // came back from a blocking call without a P
      stopm(m);
      if (sched.shutdown.load(std::memory_order_acquire)) break;
    }
    G* g = m->next_from_switch;
    m->next_from_switch = nullptr;
    if (g && (sched.gcwaiting.load(std::memory_order_acquire) || sched.shutdown.load(std::memory_order_acquire))) {
      runqput(m->p, g, true);
      g = nullptr;
    }
    if (!g) g = find_runnable(m);
    if (!g) break;
    if (m->spinning) reset_spinning(m);
    execute(m, g);
    if (m->reason == SwitchReason::kAbandon) break;
  }
  tls_m = nullptr;
  m->exited.store(true, std::memory_order_release);
}

void compute_steal_strides(uint32_t n) {
  steal_strides.clear();
  for (uint32_t i = 1; i <= n; ++i)
    if (std::gcd(i, n) == 1) steal_strides.push_back(i);
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

}  // namespace

// ---- interface -------------------------------------------------------------

__attribute__((noinline, noipa)) M* current_m() { return tls_m; }

G* current_g() {
  M* m = current_m();
  return m ? m->curg : nullptr;
}

void park(bool (*unlockf)(G*, void*), void* arg, const char* reason) {
  G* g = current_g();
  if (!g) internal::fatal("gort: goroutine operation '", reason, "' blocked outside a goroutine");
  M* m = g->m;
  if (m->in_blocking_call()) internal::fatal("gort: '", reason, "' inside gort::blocking");
  m->unlockf = unlockf;
  m->unlockarg = arg;
  g->wait_reason = reason;
  switch_out(g, SwitchReason::kPark);
}

void entersyscall() {
  G* g = current_g();
  if (!g) return;  // a plain thread just blocks
  M* m = g->m;
  P* p = m->p;
  m->blocking_g.store(g, std::memory_order_relaxed);
  m->blocking.store(BlockingState::kInCall, std::memory_order_release);
  p->syscalltick.store(p->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  p->status.store(PStatus::kSyscall, std::memory_order_release);
}

namespace {

// The runtime shut down while this thread was inside gort::blocking:
// everything it belonged to may be gone or serving a new gort::run. It goes
// straight back to its g0 and its thread ends there.
[[noreturn]] void leave_abandoned_runtime(M* m, G* g) {
  begin_switch();
  m->reason = SwitchReason::kAbandon;
  stack::start_switch(nullptr, m->g0_stack_bottom, m->g0_stack_size);
  stack::tsan_switch_to(m->tsan_g0_fiber);
  stack::jump(m->g0ctx, g);
  __builtin_unreachable();
}

}  // namespace

void exitsyscall() {
  M* m = current_m();
  if (!m || !m->curg) return;
  BlockingState in_call = BlockingState::kInCall;
  if (!m->blocking.compare_exchange_strong(in_call, BlockingState::kReturning, std::memory_order_acq_rel)) {
    if (in_call == BlockingState::kAbandoned) leave_abandoned_runtime(m, m->curg);
    return;  // not in a blocking call
  }
  G* g = m->curg;
  P* p = m->p;
  PStatus expected = PStatus::kSyscall;
  if (p->status.compare_exchange_strong(expected, PStatus::kRunning, std::memory_order_acq_rel)) {
    // Possibly not the same tenure: sysmon may have handed p to another M
    // that entered a blocking call of its own. A P in kSyscall is free for
    // whoever claims it (as in Go); that M will find it gone.
    p->m.store(m, std::memory_order_relaxed);
    p->running.store(g, std::memory_order_release);
    m->blocking.store(BlockingState::kNone, std::memory_order_release);
    return;
  }
  // sysmon or stop_the_world took our P while we were blocked.
  m->p = nullptr;
  P* idle;
  {
    internal::LockGuard l(sched.lock);
    idle = pidleget();
  }
  if (idle) {
    acquirep(m, idle);
    idle->running.store(g, std::memory_order_release);
    m->blocking.store(BlockingState::kNone, std::memory_order_release);
    return;
  }
  switch_out(g, SwitchReason::kNoP);
}

void request_preempt(G* g) {
  // A stale pointer (the goroutine has since parked) must not leave a
  // request that nobody will clear.
  if (g->status.load(std::memory_order_relaxed) != GStatus::kRunning) return;
  if (!g->preempt.exchange(true)) detail::preempt_requests.fetch_add(1, std::memory_order_relaxed);
}

void preempt_check_slow() {
  G* g = current_g();
  if (!g || g->m->in_blocking_call()) return;
  // main has returned: a goroutine reaching a safe point goes no further.
  if (sched.shutdown.load(std::memory_order_acquire)) switch_out(g, SwitchReason::kAbandon);
  if (!g->preempt.load(std::memory_order_relaxed)) return;
  if (g->preempt.exchange(false)) detail::preempt_requests.fetch_sub(1, std::memory_order_relaxed);
  switch_out(g, SwitchReason::kPreempt);
}

void handoffp(P* p) {
  p->m.store(nullptr, std::memory_order_relaxed);
  bool work = !p->runq.empty();
  {
    internal::LockGuard l(sched.lock);
    work = work || !sched.runq.empty();
    if (!work) pidleput(p);
  }
  if (work) {
    startm(p, false);
  } else if (p->timers.first_when() != 0) {
    wakep();  // somebody must become the poller and wait for its timers
  }
}

void ready(G* g, bool next) {
  g->status.store(GStatus::kRunnable, std::memory_order_relaxed);
  M* m = current_m();
  if (m && m->p) {
    P* p = m->p;
    runqput(p, g, next);
    // A goroutine readying another into runnext (a channel hand-off) is
    // usually about to block, and then this P runs the readied one at once.
    // Waking a second M for it would cost a futex wake per hand-off; if the
    // readier keeps running instead, sysmon notices the stranded runnext.
    if (next && m->curg && !p->runq.has_queued()) return;
    wakep();
    return;
  }
  {
    internal::LockGuard l(sched.lock);
    globrunqput(g);
  }
  wakep();
}

void yield() {
  G* g = current_g();
  if (!g) return;
  switch_out(g, SwitchReason::kYield);
}

uint32_t fastrand() {
  if (M* m = current_m()) return m->rand.next();
  thread_local FastRand foreign{uint64_t(internal::nanotime())};
  return foreign.next();
}

bool can_spin(int iteration) {
  constexpr int kActiveSpin = 4;
  if (iteration >= kActiveSpin || sched.gomaxprocs <= 1) return false;
  if (sched.gomaxprocs <= sched.npidle.load(std::memory_order_relaxed) +
                              sched.nmspinning.load(std::memory_order_relaxed) + 1)
    return false;
  M* m = current_m();
  return m && m->p && m->p->runq.empty();
}

void wakep() {
  if (sched.npidle.load(std::memory_order_acquire) == 0) return;
  int32_t zero = 0;
  if (sched.nmspinning.load(std::memory_order_acquire) != 0 ||
      !sched.nmspinning.compare_exchange_strong(zero, 1, std::memory_order_acq_rel))
    return;
  startm(nullptr, true);
}

G* newproc_prepare() {
  if (!sched.running.load(std::memory_order_acquire))
    throw std::logic_error("gort::go: the runtime is not running (call it inside gort::run)");
  M* m = current_m();
  P* p = m ? m->p : nullptr;
  G* g = gfget(p);
  if (!g) {
    g = GArena::get().alloc();
    internal::LockGuard l(sched.allg_lock);
    sched.allgs.push_back(g);
  }
  g->id = next_goid(p);
  g->param = nullptr;
  g->wait_reason = nullptr;
  g->select_done.store(0, std::memory_order_relaxed);
  return g;
}

void newproc_start(G* g) {
  g->status.store(GStatus::kRunnable, std::memory_order_release);
  M* m = current_m();
  if (m && m->p) {
    P* p = m->p;
    p->spawned.store(p->spawned.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    runqput(p, g, true);
  } else {
    sched.foreign_spawned.fetch_add(1, std::memory_order_relaxed);
    internal::LockGuard l(sched.lock);
    globrunqput(g);
  }
  wakep();
}

int64_t num_goroutine() {
  int64_t n = sched.foreign_spawned.load(std::memory_order_relaxed);
  for (P* p : sched.allp)
    n += int64_t(p->spawned.load(std::memory_order_relaxed)) -
         int64_t(p->exited.load(std::memory_order_relaxed));
  return n;
}

namespace {

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
  stack::install_overflow_handler(&goroutine_id_for_signal);
  install_preempt_signal();
  sched.gcwaiting.store(false);
  canary_mode = stack::Space::get().guard_mode() == stack::GuardMode::kCanary;
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
