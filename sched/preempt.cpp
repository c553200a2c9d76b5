// Cooperative preemption (Go's preemptone and gopreempt_m): sysmon asks a
// goroutine that ran 10 ms to yield, and it does so at its next safe point.
// The collector asks the same way for a running goroutine's stack scan,
// which the goroutine then does itself, and for the grey objects its P's
// write barrier keeps (sched/gcscan.hpp).
// sched/README.md explains why gort never switches a goroutine out
// asynchronously.
#include "gort/detail/safepoint.hpp"
#include "sched/gcscan.hpp"
#include "sched/hooks.hpp"
#include "sched/sched.hpp"
#include "sched/switch.hpp"

namespace gort::sched {

void request_preempt(G* g) {
  // A stale pointer (the goroutine has since parked) must not leave a
  // request that nobody will clear.
  if (g->status.load(std::memory_order_relaxed) != GStatus::kRunning) return;
  if (!g->preempt.exchange(true)) detail::preempt_requests.fetch_add(1, std::memory_order_relaxed);
}

bool running_goroutine_asked_to_yield() {
  const G* g = current_g();
  return g && g->preempt.load(std::memory_order_relaxed);
}

void preempt_check_slow() {
  G* g = current_g();
  if (!g || g->m->in_blocking_call()) return;
  assert_no_locks_held();
  // main has returned: a goroutine reaching a safe point goes no further.
  if (sched.shutdown.load(std::memory_order_acquire)) switch_out(g, SwitchReason::kAbandon);
  if (g->gcscan_request.load(std::memory_order_relaxed) && g->gcscan_request.exchange(false)) {
    detail::preempt_requests.fetch_sub(1, std::memory_order_relaxed);
    hooks().scan_own_stack(g);
  }
  if (P* p = g->m->p; p && take_gc_work_hand_over(p)) hooks().hand_over_gc_work(p);
  if (!g->preempt.load(std::memory_order_relaxed)) return;
  if (g->preempt.exchange(false)) detail::preempt_requests.fetch_sub(1, std::memory_order_relaxed);
  switch_out(g, SwitchReason::kPreempt);
}

}  // namespace gort::sched
