#include "gc/marker.hpp"

#include <signal.h>
#include <sys/ucontext.h>

#include <algorithm>
#include <cstring>

#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "sched/chan.hpp"
#include "sched/garena.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"
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
  internal::LockGuard l(RootRangeWalker::lock);
  next_ = RootRangeWalker::head;
  prev_ = nullptr;
  if (next_) next_->prev_ = this;
  RootRangeWalker::head = this;
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

constexpr uintptr_t kRedZone = 128;  // System V x86-64 ABI

// Every register of a thread stopped by signal: the general-purpose ones,
// and the vector registers, where a compiler may hold a pointer mid-copy.
// The kernel saved the extended state (XSAVE) behind the FXSAVE area, on
// the M's alternate stack, and says how large it is in the area's
// software-reserved bytes. (A context ThreadSanitizer copied may point at
// a frame long gone: then only the copy of the general registers counts.)
void scan_signal_registers(Marker& m, const sched::M* thread, const ucontext_t* uc) {
  const auto* gregs = reinterpret_cast<const char*>(&uc->uc_mcontext.gregs[0]);
  m.scan_range(reinterpret_cast<uintptr_t>(gregs), reinterpret_cast<uintptr_t>(gregs + sizeof uc->uc_mcontext.gregs));
  const auto* fp = reinterpret_cast<const char*>(uc->uc_mcontext.fpregs);
  const auto at = reinterpret_cast<uintptr_t>(fp);
  if (!fp || at < thread->altstack_lo || at + sizeof(_libc_fpstate) > thread->altstack_hi) return;
  constexpr size_t kSoftwareReserved = 464;  // bytes 464..511 of the FXSAVE area
  size_t size = sizeof(_libc_fpstate);
  _fpx_sw_bytes sw;
  std::memcpy(&sw, fp + kSoftwareReserved, sizeof sw);
  if (sw.magic1 == FP_XSTATE_MAGIC1 && sw.xstate_size > size) size = sw.xstate_size;
  m.scan_range(at, std::min(at + size, thread->altstack_hi));
}

void scan_channel_buffer(const void* base, size_t size, void* marker) {
  const auto lo = reinterpret_cast<uintptr_t>(base);
  static_cast<Marker*>(marker)->scan_range(lo, lo + size);
}

}  // namespace

void Visitor::mark(const void* p) { static_cast<Marker*>(marker_)->mark(reinterpret_cast<uintptr_t>(p)); }

Marker::Marker(uintptr_t own_stack_from, int node)
    : node_(node), nodes_(Heap::get().nodes()), own_stack_from_(own_stack_from) {}

void Marker::mark(uintptr_t addr) {
  const uintptr_t object = Heap::get().find_object(addr);
  if (!object) return;
  Span* s = Heap::get().span_of(object);
  if (!s->mark(object)) return;
  marked_bytes_ += s->elemsize;
  if (!s->noscan()) grey_[s->node].push_back(object);
}

inline void Marker::blacken(uintptr_t object, Visitor& v) {
  auto* h = reinterpret_cast<Header*>(object);
  if (!h->type || !h->type->trace) return;  // allocated, not yet constructed
  auto* elem = static_cast<const char*>(h->object());
  for (uint32_t i = 0; i < h->count; ++i) h->type->trace(elem + size_t(i) * h->type->elem_size, v);
}

internal::RawVector<uintptr_t>* Marker::next_grey() {
  for (int node = 0; node < nodes_; ++node)
    if (!grey_[node].empty()) return &grey_[node];
  return nullptr;
}

// Reading every word of a stack is the point of conservative scanning, so
// the sanitizers must not flag it: it reads redzones and other threads'
// frames on purpose (those threads are stopped).
__attribute__((no_sanitize("address", "thread"))) void Marker::scan_range(uintptr_t lo, uintptr_t hi) {
  lo = (lo + sizeof(uintptr_t) - 1) & ~(sizeof(uintptr_t) - 1);
  for (uintptr_t p = lo; p + sizeof(uintptr_t) <= hi; p += sizeof(uintptr_t))
    mark(*reinterpret_cast<const uintptr_t*>(p));
}

void Marker::drain() {
  Visitor v = detail::VisitorAccess::make(this);
  internal::RawVector<uintptr_t>& own = grey_[node_];
  for (;;) {
    while (!own.empty()) {
      const uintptr_t object = own.back();
      own.pop_back();
      blacken(object, v);
    }
    // Another node's object only while the own node has none: tracing it
    // may grey more of the own node's.
    internal::RawVector<uintptr_t>* other = next_grey();
    if (!other) return;
    const uintptr_t object = other->back();
    other->pop_back();
    blacken(object, v);
  }
}

void Marker::mark_roots() {
  sched::assert_world_stopped();
  detail::RootRangeWalker::for_each([this](uintptr_t lo, size_t size) {
    root_range_bytes_ += size;
    scan_range(lo, lo + size);
  });
  sched::for_each_channel_buffer(scan_channel_buffer, this);
  // The caller of gort::run waits for main; goroutines may have stored
  // pointers in its variables.
  const uintptr_t runner_hi = sched::sched.runner_stack_hi.load(std::memory_order_acquire);
  if (runner_hi) scan_range(sched::sched.runner_stack_lo.load(std::memory_order_relaxed), runner_hi);
  mark_goroutines();
}

void Marker::mark_goroutines() {
  sched::G* self = sched::current_g();
  // Threads stopped by signal (a loop without safe points, or a blocking
  // call): their registers are in the signal context and their goroutine's
  // live stack starts at the saved stack pointer.
  internal::RawVector<sched::G*> in_signal;
  {
    internal::LockGuard l(sched::sched.lock);
    sched::for_each_m_with_goroutine([&](sched::M* m) {
      auto* uc = static_cast<ucontext_t*>(m->signal_context.load(std::memory_order_acquire));
      sched::G* g = m->curg;
      if (!uc || !g) return;
      scan_signal_registers(*this, m, uc);
      // Below the stack pointer, a leaf function may keep values in the
      // red zone, which the signal (on the alternate stack) left alone.
      const uintptr_t sp = uintptr_t(uc->uc_mcontext.gregs[REG_RSP]);
      uintptr_t from = sp - kRedZone;
      if (const uintptr_t handler_sp = m->signal_scan_from.load(std::memory_order_relaxed)) from = handler_sp;
      // A blocking function may run on a stack of its own: then its
      // goroutine's stack is live from where the call was entered.
      else if (sp < g->stack.lo || sp >= g->stack.hi) from = g->syscall_sp ? g->syscall_sp : g->stack.hi;
      scan_stack(std::max(from, g->stack.lo), g->stack.hi);
      in_signal.push_back(g);
    });
  }
  const sched::GArena& gs = sched::GArena::get();
  for (size_t i = 0, n = gs.count(); i < n; ++i) {
    sched::G* g = gs.at(i);
    const sched::GStatus st = g->status.load(std::memory_order_acquire);
    if (st == sched::GStatus::kDead || st == sched::GStatus::kIdle) continue;
    if (g->fn.captures) {
      const auto c = reinterpret_cast<uintptr_t>(g->fn.captures);
      scan_range(c, c + g->fn.captures_size);
    }
    if (!g->stack || g == self || g->holds_no_roots ||
        std::find(in_signal.begin(), in_signal.end(), g) != in_signal.end())
      continue;
    // Switched out: live from the saved context, which holds its registers.
    uintptr_t from = reinterpret_cast<uintptr_t>(g->ctx);
    if (!from) continue;
    from = std::max(from, g->stack.lo);
    scan_stack(from, g->stack.hi);
  }
  if (self) scan_stack(std::max(own_stack_from_, self->stack.lo), self->stack.hi);
}

}  // namespace gort::gc
