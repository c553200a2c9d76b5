#include "gc/marker.hpp"

#include "gc/mheap.hpp"
#include "gc/object.hpp"
#include "sched/sched.hpp"

namespace gort::gc {

MarkTotals mark_totals;

void Visitor::mark(const void* p) { static_cast<Marker*>(marker_)->mark(reinterpret_cast<uintptr_t>(p)); }

Marker::Marker(int node) : node_(node) {}

void Marker::enter_check_mode(void (*on_unmarked)(uintptr_t, uintptr_t)) { on_unmarked_ = on_unmarked; }

void Marker::mark(uintptr_t addr) {
  const uintptr_t object = Heap::get().find_object(addr);
  if (!object) return;
  Span* s = Heap::get().span_of(object);
  if (on_unmarked_) [[unlikely]] {
    if (!s->check_mark(object)) return;
    if (precise_ && !s->is_marked_object(object)) on_unmarked_(object, source_);
  } else {
    if (!s->mark(object)) return;
    marked_bytes_ += int64_t(s->elemsize);
  }
  if (!s->noscan()) push(object, s->node);
}

void Marker::push(uintptr_t object, int node) {
  Workbuf*& b = local_[node];
  if (!b) {
    b = workbufs::get_empty();
  } else if (b->count >= hand_off_at_) {
    workbufs::put_full(b, node);
    b = workbufs::get_empty();
  }
  b->objects[b->count++] = object;
}

bool Marker::pop(uintptr_t* object) {
  // The own node's objects first; a shared block of them before another
  // node's local ones.
  Workbuf*& own = local_[node_];
  if (!own || own->empty()) {
    if (Workbuf* shared = workbufs::try_get_full(node_)) {
      if (own) workbufs::put_empty(own);
      own = shared;
    }
  }
  if (own && !own->empty()) {
    *object = own->objects[--own->count];
    return true;
  }
  for (Workbuf* b : local_) {
    if (b && !b->empty()) {
      *object = b->objects[--b->count];
      return true;
    }
  }
  return false;
}

bool Marker::has_local_work() const {
  for (const Workbuf* b : local_)
    if (b && !b->empty()) return true;
  return false;
}

// The type is published last by the allocator (release), so a non-null one
// comes with its extent (count and offset). Null: allocated but not yet built, its
// memory zero or about to be; its refs, once set, are shaded by the write
// barrier.
inline void Marker::blacken(uintptr_t object, Visitor& v) {
  const ObjectView o = view_slot(object);
  const detail::TypeInfo* type = o.type();
  Span* s = Heap::get().span_of(object);
  scan_work_ += int64_t(s->elemsize);
  if (!type || !type->trace) return;
  if (on_unmarked_) set_precise_source(s->is_marked_object(object), object);
  for (uint32_t i = 0; i < o.count; ++i) type->trace(o.start + size_t(i) * type->elem_size, v);
}

void Marker::trace_object(uintptr_t slot) {
  Visitor v = detail::VisitorAccess::make(this);
  blacken(slot, v);
}

// Reading every word of a stack is the point of conservative scanning, so
// the sanitizers must not flag it: it reads redzones and other threads'
// frames on purpose (those threads are stopped, or parked and held by
// their scan bit).
__attribute__((no_sanitize("address", "thread"))) void Marker::scan_range(uintptr_t lo, uintptr_t hi) {
  lo = (lo + sizeof(uintptr_t) - 1) & ~(sizeof(uintptr_t) - 1);
  for (uintptr_t p = lo; p + sizeof(uintptr_t) <= hi; p += sizeof(uintptr_t))
    mark(*reinterpret_cast<const uintptr_t*>(p));
}

// Each word is read once: the copy must hold the very value that was greyed.
__attribute__((no_sanitize("address", "thread"))) void Marker::scan_stack_keeping(uintptr_t lo, uintptr_t hi,
                                                                                  uintptr_t* copy) {
  if (lo < hi) stack_bytes_ += int64_t(hi - lo);
  for (uintptr_t p = lo; p + sizeof(uintptr_t) <= hi; p += sizeof(uintptr_t), ++copy) {
    *copy = __atomic_load_n(reinterpret_cast<const uintptr_t*>(p), __ATOMIC_RELAXED);
    mark(*copy);
  }
}

__attribute__((no_sanitize("address", "thread"))) void Marker::rescan_changed(uintptr_t lo, uintptr_t hi,
                                                                              const uintptr_t* copy) {
  for (uintptr_t p = lo; p + sizeof(uintptr_t) <= hi; p += sizeof(uintptr_t), ++copy) {
    const uintptr_t word = __atomic_load_n(reinterpret_cast<const uintptr_t*>(p), __ATOMIC_RELAXED);
    if (word != *copy) mark(word);
  }
}

int64_t Marker::drain(int64_t budget) {
  Visitor v = detail::VisitorAccess::make(this);
  const int64_t start = scan_work_;
  uintptr_t object;
  while ((budget < 0 || scan_work_ - start < budget) && pop(&object)) {
    blacken(object, v);
    // A bounded drain gives way as soon as its goroutine is asked to yield
    // (Go's gcDrain checks gp.preempt per object): a stop of the world
    // would otherwise wait out the rest of the slice, inside the pause.
    if (budget >= 0 && sched::yield_requested()) [[unlikely]]
      break;
  }
  return scan_work_ - start;
}

void Marker::flush() {
  for (int node = 0; node < internal::numa::kMaxNodes; ++node) {
    Workbuf*& b = local_[node];
    if (!b) continue;
    if (b->empty()) workbufs::put_empty(b);
    else workbufs::put_full(b, node);
    b = nullptr;
  }
  if (on_unmarked_) return;  // check mode counts nothing
  mark_totals.marked_bytes.fetch_add(marked_bytes_, std::memory_order_relaxed);
  mark_totals.scan_work.fetch_add(scan_work_, std::memory_order_relaxed);
  mark_totals.stack_bytes.fetch_add(stack_bytes_, std::memory_order_relaxed);
  mark_totals.root_bytes.fetch_add(root_bytes_, std::memory_order_relaxed);
  marked_bytes_ = scan_work_ = stack_bytes_ = root_bytes_ = 0;
}

}  // namespace gort::gc
