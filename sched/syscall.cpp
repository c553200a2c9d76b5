// Blocking calls (Go's entersyscall/exitsyscall): gort::blocking(f) runs f
// on the goroutine's own thread; the P stays with the M, marked kSyscall,
// so that a short call costs two atomic operations and a long one loses its
// P to sysmon. sched/README.md has the whole story.
#include "sched/sched.hpp"
#include "sched/switch.hpp"
#include "sched/trace.hpp"

namespace gort::sched {

void entersyscall() {
  G* g = current_g();
  if (!g) return;  // a plain thread just blocks
  M* m = g->m;
  P* p = m->p;
  m->blocking_g.store(g, std::memory_order_relaxed);
  if (m->blocking.load(std::memory_order_relaxed) == BlockingState::kNone)
    sched.threads_in_blocking_calls.fetch_add(1, std::memory_order_relaxed);
  // In a call before p says kSyscall: whoever takes p then (a stop of the
  // world) finds this thread in a call and stops it by signal.
  m->blocking.store(BlockingState::kEntering, std::memory_order_release);
  p->syscalltick.store(p->syscalltick.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  // While p says kSyscall it may go to another M: the last event on it.
  if (trace::on()) trace::syscall_enter(m, p, g);
  p->status.store(PStatus::kSyscall, std::memory_order_release);
  // Done with p: from here a shutdown may leave this thread in its call and
  // free p (TSan saw teardown delete p under the store above).
  m->blocking.store(BlockingState::kInCall, std::memory_order_release);
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
    if (trace::on()) trace::syscall_exit(m, g, p, true);
    end_blocking_state(m);
    return;
  }
  // sysmon or stop_the_world took our P while we were blocked.
  if (trace::on()) trace::syscall_exit(m, g, p, false);
  m->p = nullptr;
  P* idle = pidleget_locking();
  if (idle) {
    acquirep(m, idle);
    idle->running.store(g, std::memory_order_release);
    if (trace::on()) trace::go_start(idle, g);
    end_blocking_state(m);
    return;
  }
  switch_out(g, SwitchReason::kNoP);
}

void end_blocking_state(M* m) {
  m->blocking.store(BlockingState::kNone, std::memory_order_release);
  sched.threads_in_blocking_calls.fetch_sub(1, std::memory_order_release);
}

}  // namespace gort::sched
