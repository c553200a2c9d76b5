#include "sched/gcscan.hpp"

#include "gort/detail/safepoint.hpp"
#include "sched/sched.hpp"

namespace gort::sched {

GcScanState gcscan;

namespace {

std::atomic<G*> rescan_head{nullptr};
std::atomic<size_t> rescan_length{0};

inline void cpu_relax() { __builtin_ia32_pause(); }

}  // namespace

bool try_claim_stack(G* g) {
  if (g->gcscan_lock.exchange(true, std::memory_order_seq_cst)) return false;
  if (g->status.load(std::memory_order_seq_cst) == GStatus::kRunning) {
    g->gcscan_lock.store(false, std::memory_order_release);
    return false;
  }
  return true;
}

void release_stack(G* g) { g->gcscan_lock.store(false, std::memory_order_release); }

void before_run_while_marking(G* g) {
  g->status.store(GStatus::kRunning, std::memory_order_seq_cst);
  // A scan takes microseconds (one stack); the M waits it out.
  while (g->gcscan_lock.load(std::memory_order_seq_cst)) cpu_relax();
  if (gcscan.rescan_after_run && stack_scanned(g)) {
    g->gcscan_cycle.store(0, std::memory_order_relaxed);
    push_rescan(g);
  }
}

void request_stack_scan(G* g) {
  if (g->status.load(std::memory_order_relaxed) != GStatus::kRunning) return;
  if (!g->gcscan_request.exchange(true)) detail::preempt_requests.fetch_add(1, std::memory_order_relaxed);
}

void request_gc_work_hand_over(P* p) {
  if (!p->gcw_hand_over.exchange(true)) detail::preempt_requests.fetch_add(1, std::memory_order_relaxed);
}

bool take_gc_work_hand_over(P* p) {
  if (!p->gcw_hand_over.load(std::memory_order_relaxed) || !p->gcw_hand_over.exchange(false)) return false;
  detail::preempt_requests.fetch_sub(1, std::memory_order_relaxed);
  return true;
}

void for_each_idle_p(void (*fn)(P* p)) {
  internal::LockGuard l(sched.lock);
  for (P* p = sched.pidle; p; p = p->link) fn(p);
}

void push_rescan(G* g) {
  if (g->on_rescan_list.exchange(true, std::memory_order_acq_rel)) return;
  G* head = rescan_head.load(std::memory_order_relaxed);
  do {
    g->rescan_link = head;
  } while (!rescan_head.compare_exchange_weak(head, g, std::memory_order_release, std::memory_order_relaxed));
  rescan_length.fetch_add(1, std::memory_order_relaxed);
}

void take_rescan_list(internal::RawVector<G*>* out) {
  G* g = rescan_head.exchange(nullptr, std::memory_order_acquire);
  while (g) {
    G* next = g->rescan_link;  // before g may be pushed again
    out->push_back(g);
    rescan_length.fetch_sub(1, std::memory_order_relaxed);
    g->on_rescan_list.store(false, std::memory_order_release);
    g = next;
  }
}

size_t rescan_list_length() { return rescan_length.load(std::memory_order_relaxed); }

}  // namespace gort::sched
