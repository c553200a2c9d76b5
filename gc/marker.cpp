#include "gc/marker.hpp"

#include <sys/ucontext.h>

#include <algorithm>
#include <mutex>

#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "sched/sched.hpp"

namespace gort::gc {

namespace {

sched::Lock roots_lock;
std::vector<const void* const*>& roots() {
  static auto* r = new std::vector<const void* const*>;
  return *r;
}

// Spills callee-saved registers into this frame, then scans from it to the
// top of the collecting goroutine's stack.
__attribute__((noinline)) void scan_own_stack(Marker& m, uintptr_t stack_hi) {
  __builtin_unwind_init();
  volatile uintptr_t here = reinterpret_cast<uintptr_t>(__builtin_frame_address(0));
  m.scan_range(here - 256, stack_hi);
}

}  // namespace

void Visitor::mark(const void* p) { static_cast<Marker*>(marker_)->mark(reinterpret_cast<uintptr_t>(p)); }

void Marker::mark(uintptr_t addr) {
  const uintptr_t object = Heap::get().find_object(addr);
  if (!object) return;
  Span* s = Heap::get().span_of(object);
  if (s->mark(object) && !s->noscan()) grey_.push_back(object);
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
  Visitor v(this);
  while (!grey_.empty()) {
    auto* h = reinterpret_cast<Header*>(grey_.back());
    grey_.pop_back();
    if (!h->type || !h->type->trace) continue;  // allocated, not yet constructed
    auto* elem = static_cast<const char*>(h->object());
    for (uint32_t i = 0; i < h->count; ++i) h->type->trace(elem + size_t(i) * h->type->elem_size, v);
  }
}

void Marker::mark_roots() {
  {
    sched::LockGuard l(roots_lock);
    for (const void* const* slot : roots()) mark(reinterpret_cast<uintptr_t>(*slot));
  }
  sched::G* self = sched::current_g();
  // Goroutines stopped by signal: their registers are in the signal context
  // and their live stack starts at the saved stack pointer.
  std::vector<sched::G*> in_signal;
  for (sched::M* m : sched::sched.allm) {
    if (!m->signal_context || !m->curg) continue;
    auto* uc = static_cast<ucontext_t*>(m->signal_context);
    const auto* regs = reinterpret_cast<const char*>(&uc->uc_mcontext.gregs[0]);
    scan_range(reinterpret_cast<uintptr_t>(regs), reinterpret_cast<uintptr_t>(regs + sizeof uc->uc_mcontext.gregs));
    const uintptr_t sp = uintptr_t(uc->uc_mcontext.gregs[REG_RSP]);
    sched::G* g = m->curg;
    if (sp >= g->stack.lo && sp < g->stack.hi) scan_range(sp, g->stack.hi);
    in_signal.push_back(g);
  }
  sched::LockGuard l(sched::sched.allg_lock);
  for (sched::G* g : sched::sched.allgs) {
    const sched::GStatus st = g->status.load(std::memory_order_acquire);
    if (st == sched::GStatus::kDead || st == sched::GStatus::kIdle) continue;
    if (g->fn.captures) {
      const auto c = reinterpret_cast<uintptr_t>(g->fn.captures);
      scan_range(c, c + g->fn.captures_size);
    }
    if (!g->stack || g == self || std::find(in_signal.begin(), in_signal.end(), g) != in_signal.end()) continue;
    // In a blocking call: live from the spilled registers of blocking_call.
    // Switched out: live from the saved context, which holds its registers.
    uintptr_t from = g->syscall_sp ? g->syscall_sp : reinterpret_cast<uintptr_t>(g->ctx);
    if (!from) continue;
    from = std::max(from, g->stack.lo);
    if (from < g->stack.hi) scan_range(from, g->stack.hi);
  }
  if (self) scan_own_stack(*this, self->stack.hi);
}

namespace detail {

void register_root(const void* const* slot) {
  sched::LockGuard l(roots_lock);
  roots().push_back(slot);
}

void unregister_root(const void* const* slot) {
  sched::LockGuard l(roots_lock);
  auto& r = roots();
  r.erase(std::find(r.begin(), r.end(), slot));
}

}  // namespace detail

}  // namespace gort::gc
