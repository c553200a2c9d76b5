#include "gc/roots.hpp"

#include <signal.h>
#include <sys/ucontext.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "gc/barrier.hpp"
#include "gc/finalizer.hpp"
#include "gc/marker.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "runtime/internal/stack_pointer.hpp"
#include "sched/chan.hpp"
#include "sched/garena.hpp"
#include "sched/gcscan.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"
#include "stack/shrink.hpp"
#include "stack/space.hpp"

namespace gort::gc {

namespace detail {

// The registered root ranges: a doubly linked list through the RootRange
// objects themselves, so a million timers cost no allocation here.
struct RootRangeWalker {
  static internal::Lock lock;
  static RootRange* head;

  template <class Fn>
  static void for_each(Fn&& fn) {
    internal::LockGuard l(lock);
    for (RootRange* r = head; r; r = r->next_) fn(reinterpret_cast<uintptr_t>(r->base_), r->size_);
  }
};

internal::Lock RootRangeWalker::lock;
RootRange* RootRangeWalker::head = nullptr;

void RootRange::attach(const void* base, size_t size) {
  base_ = base;
  size_ = size;
  {
    internal::LockGuard l(RootRangeWalker::lock);
    next_ = RootRangeWalker::head;
    prev_ = nullptr;
    if (next_) next_->prev_ = this;
    RootRangeWalker::head = this;
  }
  if (sched::gcscan.marking.load(std::memory_order_relaxed)) [[unlikely]]
    shade_new_root_range(base, size);
}

void forget_roots_in_dead_stacks() {
  internal::LockGuard l(RootRangeWalker::lock);
  for (RootRange* r = RootRangeWalker::head; r;) {
    RootRange* next = r->next_;
    stack::Stack slot;
    const auto at = reinterpret_cast<uintptr_t>(r);
    if (stack::Space::get().find_slot(at, &slot) && !sched::zombie_stack(slot)) {
      // Its frame will never return to detach it, and the slot is about to
      // serve another goroutine.
      if (r->prev_) r->prev_->next_ = next;
      else RootRangeWalker::head = next;
      if (next) next->prev_ = r->prev_;
    }
    r = next;
  }
}

void RootRange::detach() {
  if (!base_) return;
  internal::LockGuard l(RootRangeWalker::lock);
  if (prev_) prev_->next_ = next_;
  else RootRangeWalker::head = next_;
  if (next_) next_->prev_ = prev_;
  base_ = nullptr;
  prev_ = next_ = nullptr;
}

}  // namespace detail

namespace {

using sched::G;
using sched::GStatus;

constexpr size_t kGoroutinesPerJob = 256;

// This cycle's jobs: root ranges, channel buffers, the runner's stack,
// the finalizers waiting to run, then the finalizer records in blocks of
// spans (none under GODEBUG=gcfinalizers=pause: the pause scans them),
// then the G arena in blocks.
enum Job : size_t { kRootRanges, kChannelBuffers, kRunnerStack, kFinalizerQueue, kFirstFinalizerJob };
std::atomic<size_t> next_job{0};
std::atomic<size_t> jobs_finished{0};
size_t job_count = 0;
size_t first_goroutine_job = kFirstFinalizerJob;
size_t goroutines_at_start = 0;

size_t seen_in_pause = 0;

// Goroutines found running by their job, still owed a scan (hybrid mode).
internal::Lock deferred_lock;
internal::RawVector<G*> deferred;

bool is_live(GStatus st) { return st != GStatus::kDead && st != GStatus::kIdle; }

// A goroutine's roots, however it was caught: its closure, and its stack
// from `from` (0: none) up - unless it says its stack holds no root. The
// runtime's own goroutines say so: their frames hold only stale addresses
// of what they walked, and a mark worker scanning itself at a safe point
// kept every object it had blackened alive, cycle after cycle.
void scan_goroutine(Marker& m, const G* g, uintptr_t from) {
  if (g->fn.captures) {
    const auto c = reinterpret_cast<uintptr_t>(g->fn.captures);
    m.scan_stack(c, c + g->fn.captures_size);
  }
  if (from && !g->holds_no_roots) m.scan_stack(std::max(from, g->stack.lo), g->stack.hi);
}

// A goroutine not running (claimed, or the world stopped): its stack from
// the saved context, which holds its registers.
void scan_switched_out(Marker& m, G* g) {
  scan_goroutine(m, g, g->stack && g->ctx ? reinterpret_cast<uintptr_t>(g->ctx) : 0);
}

// The caller of gort::run waits for main; goroutines may have stored
// pointers in its variables, with no barrier (plain C++ pointers, written
// from another stack). So its stack is scanned as a root job, keeping what
// it read, and again in mark termination, where only the words changed
// since need a look: a scan of the whole, cold, took 2.5 us of gcpause's
// 12 us pause. Word-aligned bounds, 0 when there is no runner.
struct RunnerStack {
  uintptr_t lo = 0, hi = 0;
};
RunnerStack runner_stack() {
  const uintptr_t hi = sched::sched.runner_stack_hi.load(std::memory_order_acquire);
  if (!hi) return {};
  const uintptr_t lo = sched::sched.runner_stack_lo.load(std::memory_order_relaxed);
  return {(lo + sizeof(uintptr_t) - 1) & ~(sizeof(uintptr_t) - 1), hi & ~(sizeof(uintptr_t) - 1)};
}
// What this cycle's root job read, and from which bounds (none yet: 0).
internal::RawVector<uintptr_t> runner_words;
RunnerStack runner_words_from;

void scan_runner_stack(Marker& m) {
  const RunnerStack s = runner_stack();
  if (s.hi) m.scan_stack(s.lo, s.hi);
}

void scan_runner_stack_keeping(Marker& m) {
  const RunnerStack s = runner_stack();
  runner_words.resize(s.hi > s.lo ? (s.hi - s.lo) / sizeof(uintptr_t) : 0);
  runner_words_from = s;
  if (s.hi) m.scan_stack_keeping(s.lo, s.hi, runner_words.data());
}

void rescan_runner_stack(Marker& m) {
  const RunnerStack s = runner_stack();
  if (s.lo == runner_words_from.lo && s.hi == runner_words_from.hi) {
    if (s.hi) m.rescan_changed(s.lo, s.hi, runner_words.data());
  } else {
    scan_runner_stack(m);  // no root job read it this cycle
  }
}

void scan_channel_buffer(const void* base, size_t size, void* marker) {
  const auto lo = reinterpret_cast<uintptr_t>(base);
  static_cast<Marker*>(marker)->scan_root_range(lo, lo + size);
}

// A goroutine its job found running: the hybrid barrier asks it to scan
// itself; Dijkstra's will rescan it anyway, once it has stopped running.
void defer_goroutine(G* g) {
  if (sched::gcscan.rescan_after_run) {
    sched::push_rescan(g);
    return;
  }
  sched::request_stack_scan(g);
  internal::LockGuard l(deferred_lock);
  deferred.push_back(g);
}

// When this cycle's marking began (coarse clock, as G::waitsince).
int64_t cycle_began = 0;

std::atomic<uint64_t> shrunk_beside_program{0};
std::atomic<uint64_t> shrunk_in_pause{0};

// Claimed goroutines whose stacks hold far more than they use
// (stack/shrink.hpp). Each stays claimed, so it cannot run, until the pages
// of the whole batch have gone back to the kernel in one call: one TLB
// shoot-down per batch, not per stack. A goroutine readied meanwhile makes
// its M spin until the batch is released, so batches are short.
//
// Only goroutines parked since before this cycle began are looked at, and
// only once after each time they ran: a runnable one is about to run (it
// would spin on its claim, then fault back the pages it just lost), one that
// parked mid-cycle is most likely about to be woken (gc::collect's caller,
// a channel partner), and each look costs a system call (mincore), which on
// a machine with more busy threads than cores hands the core away and
// stretched concurrent mark fivefold in test_gc's stopped-in-malloc case.
// The runtime's own goroutines are left alone: their depth is the runtime's.
class ShrinkBatch {
 public:
  explicit ShrinkBatch(std::atomic<uint64_t>* count) : count_(count) {}
  ShrinkBatch(const ShrinkBatch&) = delete;
  ShrinkBatch& operator=(const ShrinkBatch&) = delete;
  ~ShrinkBatch() { flush(); }

  // g is claimed and live. True if the batch keeps it, claim included.
  bool offer(G* g) {
    if (!g->stack || !g->ctx || g->is_system || g->status.load(std::memory_order_acquire) != GStatus::kWaiting ||
        g->waitsince >= cycle_began)
      return false;
    if (!g->ran_since_shrink_check.exchange(false, std::memory_order_relaxed)) return false;
    if (!stack::shrinkable(g->stack, reinterpret_cast<uintptr_t>(g->ctx), &ranges_[n_])) return false;
    gs_[n_++] = g;
    if (n_ == kCapacity) flush();
    return true;
  }

  void flush() {
    stack::release(ranges_, n_);
    for (size_t i = 0; i < n_; ++i) sched::release_stack(gs_[i]);
    count_->fetch_add(n_, std::memory_order_relaxed);
    n_ = 0;
  }

 private:
  static constexpr size_t kCapacity = 32;
  G* gs_[kCapacity];
  iovec ranges_[kCapacity];
  size_t n_ = 0;
  std::atomic<uint64_t>* count_;
};

// Scans g unless it runs; true if g needs nothing more. With a batch, a
// stack worth shrinking is handed to it, still claimed.
bool try_scan(Marker& m, G* g, ShrinkBatch* shrink = nullptr) {
  if (sched::stack_scanned(g) || !is_live(g->status.load(std::memory_order_acquire))) return true;
  if (!sched::try_claim_stack(g)) return false;
  // Claimed: it stays as it is (alive or not) until released.
  if (!sched::stack_scanned(g) && is_live(g->status.load(std::memory_order_acquire))) {
    scan_switched_out(m, g);
    sched::set_stack_scanned(g);
    if (shrink && shrink->offer(g)) return true;
  }
  sched::release_stack(g);
  return true;
}

bool shrink_beside_program() {
  const internal::Knobs& k = internal::knobs();
  return !k.gcshrinkstackoff && !k.gcshrinkstack_pause;
}

void scan_goroutine_block(Marker& m, size_t first) {
  const sched::GArena& gs = sched::GArena::get();
  const size_t end = std::min(first + kGoroutinesPerJob, goroutines_at_start);
  ShrinkBatch shrink(&shrunk_beside_program);
  ShrinkBatch* batch = shrink_beside_program() ? &shrink : nullptr;
  for (size_t i = first; i < end; ++i) {
    G* g = gs.at(i);
    if (!try_scan(m, g, batch)) defer_goroutine(g);
  }
}

// GODEBUG=gcshrinkstack=pause: every goroutine's stack looked at in mark
// termination, the pause growing with their number (Go before 1.7).
void shrink_stacks_in_pause() {
  const sched::GArena& gs = sched::GArena::get();
  ShrinkBatch batch(&shrunk_in_pause);
  for (size_t i = 0, n = gs.count(); i < n; ++i) {
    G* g = gs.at(i);
    if (g == sched::current_g() || !is_live(g->status.load(std::memory_order_acquire))) continue;
    if (!sched::try_claim_stack(g)) continue;  // stopped by signal mid-run
    if (!batch.offer(g)) sched::release_stack(g);
  }
}

// Every register of a thread stopped by signal: the general-purpose ones,
// and the vector registers, where a compiler may hold a pointer mid-copy.
// The kernel saved the extended state (XSAVE) behind the FXSAVE area, on
// the M's alternate stack, and says how large it is in the area's
// software-reserved bytes. (A context ThreadSanitizer copied may point at
// a frame long gone: then only the copy of the general registers counts.)
void scan_signal_registers(Marker& m, const sched::M* thread, const ucontext_t* uc) {
  const auto* gregs = reinterpret_cast<const char*>(&uc->uc_mcontext.gregs[0]);
  m.scan_stack(reinterpret_cast<uintptr_t>(gregs), reinterpret_cast<uintptr_t>(gregs + sizeof uc->uc_mcontext.gregs));
  const auto* fp = reinterpret_cast<const char*>(uc->uc_mcontext.fpregs);
  const auto at = reinterpret_cast<uintptr_t>(fp);
  if (!fp || at < thread->altstack_lo || at + sizeof(_libc_fpstate) > thread->altstack_hi) return;
  constexpr size_t kSoftwareReserved = 464;  // bytes 464..511 of the FXSAVE area
  size_t size = sizeof(_libc_fpstate);
  _fpx_sw_bytes sw;
  std::memcpy(&sw, fp + kSoftwareReserved, sizeof sw);
  if (sw.magic1 == FP_XSTATE_MAGIC1 && sw.xstate_size > size) size = sw.xstate_size;
  m.scan_stack(at, std::min(at + size, thread->altstack_hi));
}

// Threads stopped by signal (a loop without safe points, or a blocking
// call): their registers are in the signal context and their goroutine's
// live stack starts at the saved stack pointer.
void scan_signal_stopped(Marker& m) {
  internal::LockGuard l(sched::sched.lock);
  sched::for_each_m_with_goroutine([&](sched::M* thread) {
    auto* uc = static_cast<ucontext_t*>(thread->signal_context.load(std::memory_order_acquire));
    G* g = thread->curg;
    if (!uc || !g) return;
    ++seen_in_pause;
    if (!g->holds_no_roots) scan_signal_registers(m, thread, uc);  // as stale as its stack
    // Below the stack pointer, a leaf function may keep values in the red
    // zone, which the signal (on the alternate stack) left alone.
    const uintptr_t sp = uintptr_t(uc->uc_mcontext.gregs[REG_RSP]);
    uintptr_t from = sp - stack::kRedZone;
    if (const uintptr_t handler_sp = thread->signal_scan_from.load(std::memory_order_relaxed)) from = handler_sp;
    // A blocking function may run on a stack of its own: then its
    // goroutine's stack is live from where the call was entered.
    else if (sp < g->stack.lo || sp >= g->stack.hi) from = g->syscall_sp ? g->syscall_sp : g->stack.hi;
    scan_goroutine(m, g, from);
    sched::set_stack_scanned(g);
  });
}

// In the pause: g, unless it is the collector's own goroutine or was
// scanned from its signal context already.
void scan_in_pause(Marker& m, G* g) {
  ++seen_in_pause;
  if (g == sched::current_g() || sched::stack_scanned(g) || !is_live(g->status.load(std::memory_order_acquire)))
    return;
  scan_switched_out(m, g);
  sched::set_stack_scanned(g);
}

}  // namespace

void prepare_root_jobs() {
  sched::assert_world_stopped();
  goroutines_at_start = sched::GArena::get().count();
  cycle_began = internal::coarse_nanotime();
  first_goroutine_job = kFirstFinalizerJob + (internal::knobs().gcfinalizers_pause ? 0 : finalizer_span_blocks());
  job_count = first_goroutine_job + (goroutines_at_start + kGoroutinesPerJob - 1) / kGoroutinesPerJob;
  next_job.store(0, std::memory_order_relaxed);
  runner_words_from = {};
  jobs_finished.store(0, std::memory_order_relaxed);
  deferred.clear();
  internal::RawVector<G*> stale;
  sched::take_rescan_list(&stale);  // from a cycle the runtime's end cut short
}

bool run_root_job(Marker& m) {
  const size_t job = next_job.fetch_add(1, std::memory_order_relaxed);
  if (job >= job_count) return false;
  switch (job) {
    case kRootRanges:
      detail::RootRangeWalker::for_each([&m](uintptr_t lo, size_t size) { m.scan_root_range(lo, lo + size); });
      break;
    case kChannelBuffers:
      sched::for_each_channel_buffer(scan_channel_buffer, &m);
      break;
    case kRunnerStack:
      scan_runner_stack_keeping(m);
      break;
    case kFinalizerQueue:
      if (!internal::knobs().gcfinalizers_pause) scan_finalizer_queue(m);
      break;
    default:
      if (job < first_goroutine_job) scan_finalizer_block(m, job - kFirstFinalizerJob);
      else scan_goroutine_block(m, (job - first_goroutine_job) * kGoroutinesPerJob);
  }
  jobs_finished.fetch_add(1, std::memory_order_release);
  return true;
}

bool root_jobs_done() { return jobs_finished.load(std::memory_order_acquire) >= job_count; }

size_t retry_deferred_goroutines(Marker& m) {
  internal::LockGuard l(deferred_lock);
  size_t kept = 0;
  for (G* g : deferred) {
    if (try_scan(m, g)) continue;
    sched::request_stack_scan(g);
    deferred[kept++] = g;
  }
  deferred.resize(kept);
  return kept;
}

size_t drain_rescan_list(Marker& m) {
  internal::RawVector<G*> list;
  sched::take_rescan_list(&list);
  for (G* g : list)
    if (!try_scan(m, g)) sched::push_rescan(g);
  return sched::rescan_list_length();
}

__attribute__((noinline)) void scan_own_stack(G* g) {
  // Every callee-saved register spilled into this frame: from here up lies
  // all the goroutine may still use.
  __builtin_unwind_init();
  const uintptr_t from = internal::stack_pointer();
  if (!sched::gcscan.marking.load(std::memory_order_relaxed) || sched::stack_scanned(g)) return;
  // Not stopped by signal halfway: the pause must find this marker's work
  // handed over.
  internal::add_locks_held(1);
  {
    Marker m(g->m->p->node);
    scan_goroutine(m, g, from);
  }
  sched::set_stack_scanned(g);
  internal::add_locks_held(-1);
}

void scan_owed_in_pause(Marker& m) {
  sched::assert_world_stopped();
  seen_in_pause = 0;
  if (sched::threads_stopped_in_handler() != 0) scan_signal_stopped(m);
  {
    internal::LockGuard l(deferred_lock);
    for (G* g : deferred) scan_in_pause(m, g);
    deferred.clear();
  }
  internal::RawVector<G*> list;
  sched::take_rescan_list(&list);
  for (G* g : list) scan_in_pause(m, g);
  if (sched::gcscan.rescan_after_run && internal::knobs().gcrescan_pause) {
    const sched::GArena& gs = sched::GArena::get();
    for (size_t i = 0, n = gs.count(); i < n; ++i) scan_in_pause(m, gs.at(i));
  }
  rescan_runner_stack(m);
  if (internal::knobs().gcfinalizers_pause) scan_all_finalizers(m);
  if (internal::knobs().gcshrinkstack_pause && !internal::knobs().gcshrinkstackoff) shrink_stacks_in_pause();
}

void warm_up_runner_stack() {
  const RunnerStack s = runner_stack();
  if (s.lo != runner_words_from.lo || s.hi != runner_words_from.hi) return;
  const auto* copy = reinterpret_cast<const char*>(runner_words.data());
  for (uintptr_t off = 0; off < s.hi - s.lo; off += 64) {
    __builtin_prefetch(reinterpret_cast<const char*>(s.lo) + off);
    __builtin_prefetch(copy + off);
  }
}

size_t goroutines_seen_in_pause() { return seen_in_pause; }

StackShrinks stack_shrinks() {
  return {shrunk_beside_program.load(std::memory_order_relaxed), shrunk_in_pause.load(std::memory_order_relaxed)};
}

void mark_all_roots_stopped(Marker& m) {
  sched::assert_world_stopped();
  m.set_precise_source(true);
  detail::RootRangeWalker::for_each([&m](uintptr_t lo, size_t size) { m.scan_root_range(lo, lo + size); });
  sched::for_each_channel_buffer(scan_channel_buffer, &m);
  m.set_precise_source(false);
  scan_all_finalizers(m);
  // A cycle number of its own: every goroutine is unscanned to this pass,
  // and each is scanned once. (Marking ends in this pause: the next cycle
  // counts on from here.)
  sched::gcscan.cycle.fetch_add(1, std::memory_order_relaxed);
  const size_t seen_by_termination = seen_in_pause;
  scan_signal_stopped(m);
  const sched::GArena& gs = sched::GArena::get();
  for (size_t i = 0, n = gs.count(); i < n; ++i) scan_in_pause(m, gs.at(i));
  scan_runner_stack(m);
  seen_in_pause = seen_by_termination;  // checkmark's own walk is not the cycle's
}

void shade_new_root_range(const void* base, size_t size) { shade_words(base, size); }

}  // namespace gort::gc
