// The scheduler proper: Ms looking for work, running goroutines, and the
// hand-offs between them. sched/README.md explains the design; the names
// follow Go's runtime/proc.go so the two can be read side by side.
#include <unistd.h>

#include <stdexcept>
#include <thread>

#include "runtime/internal/check.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/garena.hpp"
#include "sched/gcscan.hpp"
#include "sched/hooks.hpp"
#include "sched/netpoll.hpp"
#include "sched/placement.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"
#include "sched/switch.hpp"
#include "sched/timer.hpp"
#include "sched/trace.hpp"
#include "stack/overflow.hpp"

namespace gort::sched {

Sched sched;

namespace {
Hooks installed_hooks;
}  // namespace

void set_hooks(const Hooks& h) { installed_hooks = h; }
const Hooks& hooks() { return installed_hooks; }

namespace {

thread_local M* tls_m = nullptr;

constexpr int32_t kGfreeLocalMax = 64;  // a P's free G records beyond this go global
constexpr int32_t kGfreeBatch = 32;
constexpr uint64_t kGoidBatch = 16;
constexpr int kStealTries = 4;

}  // namespace

// ---- P and M bookkeeping (callers hold sched.lock where noted) ----------

void acquirep(M* m, P* p) {
  if (sched.numa_pin) follow_p_node(m, p);
  m->p = p;
  p->m.store(m, std::memory_order_relaxed);
  p->status.store(PStatus::kRunning, std::memory_order_release);
  if (trace::on()) trace::proc_start(m, p);
  if (sched.sysmon_wait.load(std::memory_order_relaxed) && sched.sysmon_wait.exchange(false, std::memory_order_acq_rel))
    sched.sysmon_note.wakeup();
}

P* releasep(M* m) {
  P* p = m->p;
  if (trace::on()) trace::proc_stop(m, p);
  p->m.store(nullptr, std::memory_order_relaxed);
  p->status.store(PStatus::kIdle, std::memory_order_release);
  m->p = nullptr;
  return p;
}

void pidleput(P* p) {
  internal::assert_lock_held(sched.lock);
  p->link = sched.pidle;
  sched.pidle = p;
  sched.npidle.fetch_add(1, std::memory_order_acq_rel);
}

P* pidleget_locking() {
  internal::LockGuard l(sched.lock);
  return pidleget();
}

P* pidleget() {
  internal::assert_lock_held(sched.lock);
  P* p = sched.pidle;
  if (p) {
    sched.pidle = p->link;
    sched.npidle.fetch_sub(1, std::memory_order_acq_rel);
  }
  return p;
}

// ---- run queues ----------------------------------------------------------

void globrunqput(G* g) {
  internal::assert_lock_held(sched.lock);
  sched.runq.push(g);
  sched.runqsize.store(int32_t(sched.runq.size()), std::memory_order_relaxed);
}

// Takes a fair share of the global queue: one G to run now, the rest onto
// p's local queue.
G* globrunqget(P* p, int32_t max) {
  internal::assert_lock_held(sched.lock);
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

void inject(GList& list) {
  if (list.empty()) return;
  const int32_t n = list.size;
  {
    internal::LockGuard l(sched.lock);
    while (G* g = list.pop_front()) globrunqput(g);
  }
  for (int32_t i = 0; i < n && sched.npidle.load(std::memory_order_acquire) > 0; ++i) wakep();
}

// ---- G records -----------------------------------------------------------

namespace {

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

uint64_t next_goid(P* p) {
  if (!p) return sched.goid_gen.fetch_add(1, std::memory_order_relaxed) + 1;
  if (p->goid_next == p->goid_end) {
    p->goid_next = sched.goid_gen.fetch_add(kGoidBatch, std::memory_order_relaxed) + 1;
    p->goid_end = p->goid_next + kGoidBatch;
  }
  return p->goid_next++;
}

}  // namespace

void gfput(P* p, G* g) {
  p->gfree.push_front(g);
  if (p->gfree.size < kGfreeLocalMax) return;
  // Cut a batch off our own list (these Gs are hot in this core's cache).
  GList batch;
  while (batch.size < kGfreeBatch) batch.push_back(p->gfree.pop_front());
  internal::LockGuard l(sched.gfree_lock);
  sched.gfree_batches.push_back(batch);
}

// ---- Ms: sleeping, waking, finding work ---------------------------------------

void stopm(M* m) {
  for (;;) {
    {
      internal::LockGuard l(sched.lock);
      m->link = sched.midle;
      sched.midle = m;
    }
    if (trace::on()) trace::m_idle(m, true);
    m->park.sleep();
    m->park.clear();
    if (trace::on()) trace::m_idle(m, false);
    if (sched.shutdown.load(std::memory_order_acquire)) return;
    P* p = m->nextp;
    m->nextp = nullptr;
    if (p->handoff.exchange(false, std::memory_order_acq_rel)) {
      acquirep(m, p);
      return;
    }
    // A stop of the world took the P while this thread was waking up;
    // restarting the world hands it on again. Back to sleep, no longer
    // spinning.
    if (m->spinning) {
      m->spinning = false;
      sched.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
    }
  }
}

// Hands p (or an idle P) to an idle M. With none idle, p goes back to the
// idle list and the M factory makes a new M, which takes an idle P itself:
// a thread is not created here, where the caller may hold a runtime lock
// (creating one calls malloc), and no P waits in limbo for a thread that
// does not exist yet.
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
      pidleput(p);
    }
  }
  if (!m) {
    request_new_m(spinning);
    return;
  }
  m->nextp = p;
  m->spinning = spinning;
  p->handoff.store(true, std::memory_order_release);
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
  if (trace::on()) trace::proc_stop(m, p);
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

// One victim: on the last round its expired timers, then half its run
// queue (and on the last round its runnext). Inlined: a spinning M calls
// it for every P it looks at, and most have nothing.
__attribute__((always_inline)) inline G* steal_from(P* self, P* victim, bool last, bool* ran_timers) {
  if (last && victim->timers.first_when() != 0) {
    const int64_t now = internal::nanotime();
    if (victim->timers.first_when() <= now) {
      run_timers(victim, now);
      bool from_next;
      if (G* g = self->runq.pop(&from_next)) return g;
      *ran_timers = true;
    }
  }
  if (victim->runq.empty()) return nullptr;
  const bool victim_running = victim->status.load(std::memory_order_acquire) == PStatus::kRunning;
  G* g = self->runq.steal_from(victim->runq, last, victim_running);
  if (g) {
    auto& steals = victim->node == self->node ? self->steals_local : self->steals_remote;
    steals.store(steals.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    if (trace::on()) trace::go_steal(self, g, victim);
  }
  return g;
}

// Tries other Ps four times over: in a random order (a random start and a
// stride coprime with their number), or with several NUMA nodes nearest
// first, so that work and the memory it touches stay on one node while
// the node has any.
G* steal_work(M* m, bool* ran_timers) {
  P* self = m->p;
  const uint32_t n = uint32_t(sched.allp.size());
  for (int attempt = 0; attempt < kStealTries; ++attempt) {
    const bool last = attempt == kStealTries - 1;
    G* g = nullptr;
    if (sched.numa) {
      for_each_victim_nearest_first(self, m->rand, [&](P* victim) {
        g = steal_from(self, victim, last, ran_timers);
        return g != nullptr;
      });
      if (g) return g;
      continue;
    }
    const uint32_t start = m->rand.next() % n;
    const uint32_t stride = sched.steal_strides[m->rand.next() % sched.steal_strides.size()];
    for (uint32_t k = 0; k < n; ++k) {
      P* victim = sched.allp[(start + k * stride) % n];
      if (victim == self) continue;
      if ((g = steal_from(self, victim, last, ran_timers))) return g;
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
  // behind two goroutines that keep readying each other locally; then at
  // the ring before runnext, for the same reason: such a pair hands runnext
  // back and forth, and a goroutine queued in the ring behind it would
  // wait for ever (gc::collect's caller did, behind allocating goroutines
  // woken by each cycle's end, in test_memstats).
  const bool fair_turn = p->schedtick.load(std::memory_order_relaxed) % 61 == 0;
  if (fair_turn && sched.runqsize.load(std::memory_order_relaxed) > 0) {
    internal::LockGuard l(sched.lock);
    if (G* g = globrunqget(p, 1)) return g;
  }
  bool from_next;
  if (G* g = p->runq.pop(&from_next, fair_turn)) return g;
  if (sched.runqsize.load(std::memory_order_relaxed) > 0) {
    internal::LockGuard l(sched.lock);
    if (G* g = globrunqget(p, 0)) return g;
  }

  // Sockets that became ready, if nobody is blocked in netpoll already.
  if (netpoll_waiters() > 0 && sched.lastpoll.load(std::memory_order_acquire) != 0) {
    GList list = netpoll(0);
    const int32_t readied = list.size;
    if (G* g = list.pop_front()) {
      inject(list);
      netpoll_handed_over(readied);
      return g;
    }
  }

  // Spinning Ms are bounded: no more than half the busy Ps.
  const int32_t procs = sched.gomaxprocs;
  if (m->spinning ||
      2 * sched.nmspinning.load(std::memory_order_acquire) < procs - sched.npidle.load(std::memory_order_acquire)) {
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
  // while we were spinning saw nmspinning > 0 and woke nobody. The
  // decrement is a seq_cst read-modify-write: our later loads of the queues
  // cannot pass it (StoreLoad), which pairs with the fence in wakep.
  const bool was_spinning = m->spinning;
  if (m->spinning) {
    m->spinning = false;
    sched.nmspinning.fetch_sub(1, std::memory_order_seq_cst);
    bool work = sched.runqsize.load(std::memory_order_acquire) > 0;
    for (P* p2 : sched.allp) work = work || !p2->runq.empty();
    if (work) {
      P* idle = pidleget_locking();
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
  if ((poll_until != 0 || netpoll_waiters() > 0) && sched.lastpoll.exchange(0, std::memory_order_acq_rel) != 0) {
    sched.poll_until.store(poll_until, std::memory_order_release);
    int64_t delay = -1;
    if (poll_until != 0) {
      delay = poll_until - internal::nanotime();
      if (delay < 0) delay = 0;
    }
    GList list = netpoll(delay);
    const int32_t readied = list.size;
    sched.poll_until.store(0, std::memory_order_release);
    sched.lastpoll.store(internal::nanotime(), std::memory_order_release);
    if (sched.shutdown.load(std::memory_order_acquire)) return nullptr;
    P* idle = pidleget_locking();
    if (!idle) {
      inject(list);
      netpoll_handed_over(readied);
    } else {
      acquirep(m, idle);
      if (G* g = list.pop_front()) {
        inject(list);
        netpoll_handed_over(readied);
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

}  // namespace

void mstart(M* m) {
  tls_m = m;
  m->pthread.store(pthread_self(), std::memory_order_release);
  m->tid.store(gettid(), std::memory_order_release);
  m->tsan_g0_fiber = stack::tsan_current_fiber();
  stack::AltSignalStack altstack;
  m->altstack_lo = altstack.lo();
  m->altstack_hi = altstack.hi();
  // Made by the M factory: take an idle P if one is left (somebody asked
  // for this M because one was), else wait like any idle M.
  if (P* p = pidleget_locking()) {
    acquirep(m, p);
  } else if (m->spinning) {
    m->spinning = false;
    sched.nmspinning.fetch_sub(1, std::memory_order_acq_rel);
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
  if (m->abandoned.load(std::memory_order_acquire)) {
    // A zombie whose blocking call has returned: its goroutine is over,
    // and its thread stays (parked), so that nothing that may still signal
    // it ever signals a reused thread handle.
    if (G* g = m->blocking_g.load(std::memory_order_relaxed))
      g->status.store(GStatus::kDead, std::memory_order_release);
    end_blocking_state(m);
    park_forever(m);
  }
  tls_m = nullptr;
  m->exited.store(true, std::memory_order_release);
}

// ---- the rest of the scheduler's interface -----------------------------------

__attribute__((noinline, noipa)) M* current_m() { return tls_m; }

G* current_g() {
  M* m = current_m();
  return m ? m->curg : nullptr;
}

void assert_on_g0() { GORT_CHECK(current_m() && !current_m()->curg, "running on g0"); }

void assert_no_locks_held() { GORT_CHECK(internal::locks_held() == 0, "no runtime lock is held here"); }

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
  if (trace::on()) trace::go_unblock(m, g);
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

uint32_t fastrand() {
  if (M* m = current_m()) return m->rand.next();
  thread_local FastRand foreign{uint64_t(internal::nanotime())};
  return foreign.next();
}

bool can_spin(int iteration) {
  constexpr int kActiveSpin = 4;
  if (iteration >= kActiveSpin || sched.gomaxprocs <= 1) return false;
  if (sched.gomaxprocs <=
      sched.npidle.load(std::memory_order_relaxed) + sched.nmspinning.load(std::memory_order_relaxed) + 1)
    return false;
  M* m = current_m();
  return m && m->p && m->p->runq.empty();
}

void wakep() {
  // StoreLoad: the goroutine our caller just queued must be visible to an M
  // that stops spinning before we read whether one spins. Pairs with the
  // read-modify-write on nmspinning in find_runnable, itself a full barrier
  // on x86 (Go gets the same from its XCHG stores). Without it both sides
  // may miss each other and the work waits for sysmon's rescue.
  std::atomic_thread_fence(std::memory_order_seq_cst);
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
  if (!g) g = GArena::get().alloc();
  g->id = next_goid(p);
  g->param = nullptr;
  g->wait_reason = nullptr;
  g->select_done.store(0, std::memory_order_relaxed);
  // A request left on a record an earlier run buried: that run's count of
  // requests is gone with it.
  g->gcscan_request.store(false, std::memory_order_relaxed);
  return g;
}

void newproc_start(G* g) {
  if (gcscan.marking.load(std::memory_order_relaxed)) [[unlikely]] {
    // Born during marking: its closure came from its creator's stack, which
    // the collector may have scanned already, so it is shaded now; its
    // stack holds nothing yet, so it counts as scanned.
    if (g->fn.captures) hooks().shade_range(g->fn.captures, g->fn.captures_size);
    set_stack_scanned(g);
  }
  g->status.store(GStatus::kRunnable, std::memory_order_release);
  M* m = current_m();
  // Recorded before g is visible to any P: its creation precedes its start.
  if (trace::on()) trace::go_create(m, g);
  if (m && m->p) {
    P* p = m->p;
    if (!g->is_system) p->spawned.store(p->spawned.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    runqput(p, g, true);
  } else {
    if (!g->is_system) sched.foreign_spawned.fetch_add(1, std::memory_order_relaxed);
    internal::LockGuard l(sched.lock);
    globrunqput(g);
  }
  wakep();
}

void start_system_goroutine(void (*fn)()) {
  G* g = newproc_prepare();
  g->is_system = true;
  g->fn.emplace([fn] { fn(); });
  newproc_start(g);
}

int64_t num_goroutine() {
  int64_t n = sched.foreign_spawned.load(std::memory_order_relaxed);
  for (P* p : sched.allp)
    n += int64_t(p->spawned.load(std::memory_order_relaxed)) - int64_t(p->exited.load(std::memory_order_relaxed));
  return n;
}

}  // namespace gort::sched
