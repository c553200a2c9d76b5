// Switching between goroutines (Go's mcall, gogo and the scheduler's
// execute): every jump, the bookkeeping on both sides of it, and the ways a
// goroutine leaves the CPU (park, yield, exit).
#include "sched/switch.hpp"

#include <exception>

#include "gort/detail/safepoint.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"
#include "sched/trace.hpp"
#include "stack/overflow.hpp"
#include "stack/space.hpp"

namespace gort::sched {

// ---- switching -----------------------------------------------------------
//
// Every jump carries, as its data, the goroutine that just switched out
// (null when the jump comes from g0). Whoever lands finishes that
// goroutine's switch: saves its context and parks, requeues or frees it
// (finish_switch_out). Landing on g0 is Go's mcall; landing directly on the
// next goroutine skips g0 altogether when the next G is already in this P's
// run queue, which halves the jumps of a channel hand-off.

void begin_switch() { internal::add_locks_held(1); }
void end_switch() { internal::add_locks_held(-1); }

namespace {

void finish_switch_out(M* m, G* g);
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
  if (gcscan.marking.load(std::memory_order_relaxed)) [[unlikely]]
    before_run_while_marking(g);
  else
    g->status.store(GStatus::kRunning, std::memory_order_relaxed);
  g->ran_since_shrink_check.store(true, std::memory_order_relaxed);
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
  // The same test as find_runnable's, on the same count: g0 must get the
  // very schedule whose turn it is (one off, it never did for a pair of
  // goroutines switching directly, and the queues behind them starved).
  if (!p || p->schedtick.load(std::memory_order_relaxed) % 61 == 0 ||
      sched.shutdown.load(std::memory_order_relaxed) || sched.gcwaiting.load(std::memory_order_relaxed))
    return nullptr;
  const int64_t timer = p->timers.first_when();
  if (timer != 0 && timer <= internal::nanotime()) return nullptr;
  bool from_next;
  return p->runq.pop(&from_next);
}

}  // namespace

namespace {

// The trace event for g leaving its P (Go's GoBlock, GoSched, ...); kNoP
// and kAbandon record none: g left the P's track when its blocking call
// began, or the runtime is gone.
trace::Ev trace_event_for(SwitchReason why) {
  switch (why) {
    case SwitchReason::kPark:
      return trace::Ev::kGoBlock;
    case SwitchReason::kYield:
      return trace::Ev::kGoSched;
    case SwitchReason::kPreempt:
      return trace::Ev::kGoPreempt;
    default:
      return trace::Ev::kGoEnd;
  }
}

}  // namespace

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
  if (trace::on() && m->p && why != SwitchReason::kNoP && why != SwitchReason::kAbandon) {
    if (next) trace::go_switch(m->p, g, trace_event_for(why), next);
    else trace::go_stop(m->p, g, trace_event_for(why));
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

namespace {

void goroutine_entry(stack::Transfer t) {
  G* g = current_m()->curg;
  resumed(g, t);
  // A goroutine's uncaught exception is Go's unrecovered panic (see
  // sched/panic.hpp), except in the main goroutine, where gort::run
  // rethrows it.
  if (!g->is_main) {
    g->fn.call(g->fn);
  } else {
    try {
      g->fn.call(g->fn);
    } catch (...) {
      sched.main_panic = std::current_exception();
    }
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
  if (!g->is_system) p->exited.store(p->exited.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  g->is_system = false;
  g->holds_no_roots = false;
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
  if (sched.canary_mode && !stack::Space::get().canary_intact(g->stack))
    stack::report_overflow(g->id, g->stack, "canary smashed");
  // A preemption request that arrived after g's last safe point is moot.
  if (g->preempt.load(std::memory_order_relaxed) && g->preempt.exchange(false))
    detail::preempt_requests.fetch_sub(1, std::memory_order_relaxed);
  // Likewise a scan request: parked, g is scanned by a mark worker.
  if (g->gcscan_request.load(std::memory_order_relaxed) && g->gcscan_request.exchange(false))
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
      g->status.store(GStatus::kRunnable, std::memory_order_release);
      runqput(p, g, false);
      break;
    case SwitchReason::kPreempt:
    case SwitchReason::kNoP: {
      // The global queue, so that any P may pick it up (Go's gopreempt_m).
      g->status.store(GStatus::kRunnable, std::memory_order_release);
      {
        internal::LockGuard l(sched.lock);
        globrunqput(g);
      }
      if (m->reason == SwitchReason::kNoP) {
        // Only now is the goroutine's stack described by its saved context.
        end_blocking_state(m);
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

}  // namespace

// Runs g on m until a goroutine switches back to g0 (g itself, or another
// one that g switched to directly), then finishes that one's switch.
void execute(M* m, G* g) {
  begin_switch();
  prepare_to_run(m, g);
  if (trace::on()) trace::go_start(m->p, g);
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

void park(bool (*unlockf)(G*, void*), void* arg, const char* reason) {
  G* g = current_g();
  if (!g) internal::fatal("gort: goroutine operation '", reason, "' blocked outside a goroutine");
  M* m = g->m;
  if (m->in_blocking_call()) internal::fatal("gort: '", reason, "' inside gort::blocking");
  m->unlockf = unlockf;
  m->unlockarg = arg;
  g->wait_reason = reason;
  g->waitsince = internal::coarse_nanotime();
  switch_out(g, SwitchReason::kPark);
}

namespace {
bool unlock(G*, void* lock) {
  static_cast<internal::Lock*>(lock)->unlock();
  return true;
}
}  // namespace

void park_unlock(internal::Lock& l, const char* reason) { park(unlock, &l, reason); }

void yield() {
  G* g = current_g();
  if (!g) return;
  assert_no_locks_held();
  switch_out(g, SwitchReason::kYield);
}

}  // namespace gort::sched
