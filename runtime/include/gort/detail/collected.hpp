// The contract between the public object model (gc::make, gc::ref,
// gc::root, T::trace in gort/gc.hpp) and the collector in gc/: how a type
// is described to the collector, how an object is allocated, the write
// barrier's switch, root ranges, and the Visitor handed to trace().
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "gort/detail/locks_held.hpp"

namespace gort::gc {

class Visitor;

namespace detail {

struct VisitorAccess;

struct TypeInfo {
  void (*trace)(const void* obj, Visitor& v);  // null: pointer-free
  void (*destroy)(void* obj);                  // null: trivially destructible
  size_t elem_size;
  size_t elem_align;
};

// Allocates count elements of type (zeroed, aligned for it) after a header;
// may run a collection first when the heap has grown past its goal. Throws
// std::bad_array_new_length when count elements cannot be allocated.
void* alloc_object(const TypeInfo* type, size_t count);
// The object at obj (from alloc_object) is fully constructed: from now on
// its destructor runs when it dies.
void mark_constructed(void* obj);

// A finalizer's closure, type-erased (gc::set_finalizer); the collector
// scans [captures, captures + captures_size) as a root while the
// finalizer is set or waits to run.
struct Finalizer {
  void (*run)(Finalizer* self, void* object) = nullptr;
  void (*destroy)(Finalizer* self) = nullptr;
  const void* captures = nullptr;
  size_t captures_size = 0;
};
// Sets (fin non-null) or removes (null) object's finalizer.
void set_finalizer(void* object, Finalizer* fin);

// Set while the collector marks concurrently with goroutines
// (gc/barrier.hpp).
extern std::atomic<bool> write_barrier_enabled;
void write_barrier_slow(const void* old_value, const void* new_value);

// *slot = new_value through the write barrier. The flag is read and the
// store made with the stop signal held off: a goroutine stopped by signal
// between the two, for the pause that starts marking, would resume and
// store with the flag it read before the pause, unshaded, while the
// collector marks (a black object could end up holding a white one, or the
// old value escape the deletion barrier). Go's compiler makes its barrier
// sequences unsafe points for asynchronous preemption for the same reason.
// The stop signal is held off as a runtime lock holds it off
// (locks_held.hpp). The old value is read only when the barrier is on: a
// copy of it in the caller's frame would be a conservative root keeping
// what was just unlinked alive through the next collection.
template <class T>
inline void barriered_store(T** slot, T* new_value) {
  gort::detail::add_locks_held(1);
  if (write_barrier_enabled.load(std::memory_order_relaxed)) [[unlikely]]
    write_barrier_slow(__atomic_load_n(slot, __ATOMIC_RELAXED), new_value);
  __atomic_store_n(slot, new_value, __ATOMIC_RELAXED);
  gort::detail::add_locks_held(-1);
}

template <class T>
concept Traceable = requires(const T& t, Visitor& v) {
  t.trace(v);
};

template <class T>
const TypeInfo* type_info() {
  using TraceFn = void (*)(const void*, Visitor&);
  using DestroyFn = void (*)(void*);
  TraceFn trace = nullptr;
  if constexpr (Traceable<T>) trace = [](const void* obj, Visitor& v) { static_cast<const T*>(obj)->trace(v); };
  DestroyFn destroy = nullptr;
  if constexpr (!std::is_trivially_destructible_v<T>) destroy = [](void* obj) { static_cast<T*>(obj)->~T(); };
  static const TypeInfo info{trace, destroy, sizeof(T), alignof(T)};
  return &info;
}

void forget_roots_in_dead_stacks();

// A range of memory outside the collected heap whose words are treated as
// possible pointers (bdwgc's GC_add_roots), linked into the collector's root
// list while it lives. Intrusive, so adding and removing cost O(1).
class RootRange {
 public:
  RootRange() = default;
  RootRange(const void* base, size_t size) { attach(base, size); }
  ~RootRange() { detach(); }
  RootRange(const RootRange&) = delete;
  RootRange& operator=(const RootRange&) = delete;

  void attach(const void* base, size_t size);
  void detach();

 private:
  friend struct RootRangeWalker;
  friend void forget_roots_in_dead_stacks();
  const void* base_ = nullptr;
  size_t size_ = 0;
  RootRange* prev_ = nullptr;
  RootRange* next_ = nullptr;
};

}  // namespace detail

// Handed to T::trace; marks what each reference points to.
class Visitor {
 public:
  template <class R>
  void operator()(const R& r) {
    if constexpr (detail::Traceable<R>) r.trace(*this);  // a gc::ref: its own atomic load
    else mark(r.get());
  }
  void mark(const void* p);

 private:
  friend struct detail::VisitorAccess;
  explicit Visitor(void* marker) : marker_(marker) {}
  void* marker_;
};

namespace detail {
// How the collector makes a Visitor for its marker.
struct VisitorAccess {
  static Visitor make(void* marker) { return Visitor(marker); }
  static void* marker(const Visitor& v) { return v.marker_; }
};
}  // namespace detail

}  // namespace gort::gc
