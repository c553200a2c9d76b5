// Collected objects (gort's object model; the heap and collector are in gc/).
//
//   struct Node {
//     gort::gc::ref<Node> left, right;   // heap pointers: traced, barriered
//     int value = 0;
//     void trace(gort::gc::Visitor& v) const { v(left); v(right); }
//   };
//   Node* n = gort::gc::make<Node>();
//   n->left = gort::gc::make<Node>();
//
// - gc::make<T>(args...) allocates a T on the collected heap, aligned as
//   `new` would (alignas up to a page); gc::make_array<T>(n) n
//   default-constructed Ts (std::bad_array_new_length if n Ts do not fit).
//   Both are for goroutines only: from a thread outside the runtime, or
//   inside gort::blocking, they end the process with a fatal error (the
//   collector could neither see nor stop such an allocation).
// - A constructor that throws leaves nothing behind: the exception
//   propagates and no destructor runs for the object (for an array, the
//   elements already built are destroyed, as with new[]).
// - A type whose objects hold collected pointers stores them in gc::ref<T>
//   fields and declares trace(Visitor&), calling the visitor on each and
//   doing nothing else (the collector runs it beside the program, and
//   inside pauses: no allocation, no locks, no other reads). A type without trace() is taken to be
//   pointer-free: it is never scanned (Go's noscan spans), so it must not
//   hold collected pointers.
// - A T with a non-trivial destructor has it run once the object is found
//   unreachable and its span swept, on a goroutine (the background sweeper,
//   or the caller of collect()), never inside a pause or the allocator.
//   Destructors must not follow gc::ref fields: what they point to may be
//   gone already.
//
// Where a collected pointer may live, and where it keeps its object alive:
//   scanned (keeps it alive)                 not scanned (does not)
//   goroutine stacks and registers           memory from malloc/new: std::vector,
//   a goroutine's closure (what go() got)      std::map, std::string buffers...
//   the stack of the thread in gort::run     the heap part of a std::function
//   gc::root<T> globals                      a thread outside the runtime
//   gc::ref<T> fields of traced objects      fields of untraced (noscan) types
//   values in channel buffers (chan<T*>)
//   Select cases, after_func/Timer closures
//   gort::blocking's function and its frames
// Safe patterns for the right-hand column: a collected array of refs
// (gc::make_array<gc::ref<T>>(n), traced) instead of std::vector<T*>; a
// collected object with a trace() instead of a struct in a std::map; a
// lambda passed straight to go()/after_func instead of a std::function; a
// gc::root<T> for a pointer a foreign thread must hand over.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

#include "gort/detail/collected.hpp"

namespace gort::gc {

// A pointer to a collected object, stored inside a collected object.
//
// Every store goes through the write barrier, which is one load and a
// branch unless the collector is marking (gc/barrier.hpp). Stores and the
// collector's loads are atomic (relaxed: a plain mov on x86-64), since the
// collector reads the field while the program may write it.
template <class T>
class ref {
 public:
  ref() = default;
  ref(T* p) { detail::barriered_store(&p_, p); }  // NOLINT: converting, like a pointer
  ref(const ref& other) { detail::barriered_store(&p_, other.p_); }
  ref& operator=(T* p) {
    detail::barriered_store(&p_, p);
    return *this;
  }
  ref& operator=(const ref& other) { return *this = other.p_; }

  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

  // A ref is itself traceable, so gc::make_array<gc::ref<T>>(n) is a
  // scanned array of pointers (Go's []*T), not a pointer-free one.
  void trace(Visitor& v) const { v.mark(__atomic_load_n(&p_, __ATOMIC_RELAXED)); }

 private:
  T* p_ = nullptr;
};

// Over-aligned types are placed inside their slot; beyond a page that
// would waste more than it is worth.
inline constexpr size_t kMaxAlign = 4096;

template <class T, class... Args>
T* make(Args&&... args) {
  static_assert(alignof(T) <= kMaxAlign, "gc::make: alignment over 4096 bytes is not supported");
  void* mem = detail::alloc_object(detail::type_info<T>(), 1);
  // If the constructor throws, the object is never marked constructed: its
  // memory is garbage to the next collection and no destructor runs.
  T* obj = ::new (mem) T(std::forward<Args>(args)...);
  if constexpr (!std::is_trivially_destructible_v<T>) detail::mark_constructed(mem);
  return obj;
}

template <class T>
T* make_array(size_t n) {
  static_assert(alignof(T) <= kMaxAlign, "gc::make_array: alignment over 4096 bytes is not supported");
  T* a = static_cast<T*>(detail::alloc_object(detail::type_info<T>(), n));
  // The memory comes zeroed, which is what T() would write.
  if constexpr (std::is_trivially_default_constructible_v<T> && std::is_trivially_destructible_v<T>) return a;
  size_t built = 0;
  try {
    for (; built < n; ++built) ::new (static_cast<void*>(a + built)) T();
  } catch (...) {
    while (built > 0) a[--built].~T();
    throw;
  }
  if constexpr (!std::is_trivially_destructible_v<T>) detail::mark_constructed(a);
  return a;
}

// A global (or long-lived) root: the object it points to stays alive.
template <class T>
class root {
 public:
  root(T* p = nullptr) : p_(p), range_(&p_, sizeof p_) {}
  root(const root&) = delete;
  root& operator=(const root&) = delete;
  // Barriered as a ref is: the collector scans roots once per cycle.
  root& operator=(T* p) {
    detail::barriered_store(&p_, p);
    return *this;
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }

 private:
  T* p_;
  detail::RootRange range_;
};

// A finalizer (Go's runtime.SetFinalizer): once obj (from gc::make or
// gc::make_array) is found unreachable, f(obj) runs on the finalizer
// goroutine, one finalizer at a time. obj, and everything it references,
// survives the cycle that found it unreachable, so f sees it whole; if f
// stores obj where the program can reach it again, it lives on
// (resurrection), and the next time it is unreachable it is freed without
// f running again (unless set again). What f captures is kept alive until
// f has run. The finalizer runs before the destructor, which runs only when
// the object is finally freed. f must be callable with a T*;
// set_finalizer(obj, nullptr) removes obj's finalizer. A pointer that is
// not the start of a collected object, or a second finalizer on one
// object, is a fatal error, as in Go. An object that references itself
// (or a cycle through objects with finalizers) keeps itself alive and is
// never finalized; in a chain A -> B with a finalizer each, A's runs first
// and B's only in a later cycle, once A is gone (gc/README.md,
// "Finalizers").
template <class T, class F>
void set_finalizer(T* obj, F f) {
  static_assert(std::is_invocable_v<F&, T*>, "gc::set_finalizer: the finalizer must be callable with the object's T*");
  struct Holder final : detail::Finalizer {
    explicit Holder(F&& fn) : f(std::move(fn)) {
      run = [](detail::Finalizer* self, void* object) { static_cast<Holder*>(self)->f(static_cast<T*>(object)); };
      destroy = [](detail::Finalizer* self) { delete static_cast<Holder*>(self); };
      captures = &f;
      captures_size = sizeof f;
    }
    F f;
  };
  detail::set_finalizer(obj, new Holder(std::move(f)));
}
template <class T>
void set_finalizer(T* obj, std::nullptr_t) {
  detail::set_finalizer(obj, nullptr);
}

// Runs a full collection now (from a goroutine) and, as Go's runtime.GC,
// returns once everything is swept; here also once the destructors of what
// died have run.
void collect();

// Go's debug.SetGCPercent: GOGC at run time (negative: off); returns the
// previous value. The next cycle's trigger and goal follow at once.
int set_gc_percent(int percent);

// Go's debug.SetMemoryLimit: the soft memory limit in bytes (GOMEMLIMIT;
// INT64_MAX: none); returns the previous limit. A negative value only
// reads it. Under the limit the heap goal shrinks so that the process's
// memory stays below it, but the collector never takes more than about
// half the CPU for it: a limit below what the program needs is overshot,
// not obeyed at the cost of the program.
int64_t set_memory_limit(int64_t bytes);

struct Stats {
  uint64_t num_gc = 0;
  size_t heap_live = 0;        // bytes in objects found live by the last collection
  size_t heap_alloc = 0;       // bytes in objects allocated now (live + not yet collected)
  size_t next_gc = 0;          // heap_alloc at which the next collection starts
  uint64_t freed_objects = 0;  // over all collections
  int64_t last_pause_ns = 0;
  int64_t total_pause_ns = 0;
  // The last 256 cycles, as Go's MemStats.PauseNs and PauseEnd: cycle k
  // (counting from 1) at (k - 1) % 256, the newest at (num_gc + 255) % 256.
  // A cycle's pause is the sum of its stops, each from the request to stop
  // the world (waiting for every P included) to the world running again,
  // the last one to just before it restarts, as Go measures PauseNs; its
  // end is Unix time in ns.
  std::array<uint64_t, 256> pause_ns{};
  std::array<uint64_t, 256> pause_end_ns{};
  // The collector's CPU time over all cycles, as Go's GCCPUFraction counts
  // it: each pause once per P, assists and background marking; marking on
  // a P that was otherwise idle is free and left out.
  int64_t mark_cpu_ns = 0;
};
Stats stats();

// Go's runtime.MemStats, the fields that apply, under Go's names and with
// the meanings of Go's documentation (runtime/mstats.go). Bytes unless the
// name says otherwise; times in nanoseconds.
//   heap: spans of 8 KiB pages cut from one reservation (gc/README.md)
//   HeapAlloc     bytes of allocated heap objects: TotalAlloc less the bytes
//                 freed by sweeping (an object counts its size class's slot)
//   TotalAlloc    cumulative bytes allocated (never decreases)
//   Mallocs       cumulative objects allocated; Frees: objects freed
//   HeapObjects   Mallocs - Frees
//   HeapSys       pages carved from the reservation = HeapInuse + HeapIdle
//   HeapInuse     pages of spans holding objects
//   HeapIdle      free pages, committed or released
//   HeapReleased  free pages given back to the OS (part of HeapIdle)
//   StackInuse    stack slots held by goroutines and the Ps' caches
//   StackSys      StackInuse and the pooled slots still committed (a slot
//                 counts its whole size; see stack/README.md)
//   Sys           HeapSys + StackSys (the runtime's own metadata, such as
//                 the page table, is not counted)
//   NextGC        heap goal of the next cycle; LastGC: end of the last one,
//                 Unix time (0: none yet)
//   NumGC         cycles completed, whoever started them; NumForcedGC: those
//                 gc::collect() asked for (Go: runtime.GC)
//   PauseNs, PauseEnd, PauseTotalNs  as in gc::Stats: cycle k at
//                 (k - 1) % 256, its pause and its end (Unix time)
//   GCCPUFraction the collector's CPU time (assists, mark workers, pauses)
//                 since the process started, over the CPU the runtime had
//                 since then: each gort::run's GOMAXPROCS times its length
// Read without stopping the world: each counter is exact, but goroutines
// that allocate meanwhile may be counted in one field and not yet in
// another. HeapInuse + HeapIdle == HeapSys always.
struct MemStats {
  uint64_t Alloc = 0;  // = HeapAlloc, as in Go
  uint64_t TotalAlloc = 0;
  uint64_t Sys = 0;
  uint64_t Mallocs = 0;
  uint64_t Frees = 0;
  uint64_t HeapAlloc = 0;
  uint64_t HeapSys = 0;
  uint64_t HeapIdle = 0;
  uint64_t HeapInuse = 0;
  uint64_t HeapReleased = 0;
  uint64_t HeapObjects = 0;
  uint64_t StackInuse = 0;
  uint64_t StackSys = 0;
  uint64_t NextGC = 0;
  uint64_t LastGC = 0;
  uint64_t PauseTotalNs = 0;
  std::array<uint64_t, 256> PauseNs{};
  std::array<uint64_t, 256> PauseEnd{};
  uint32_t NumGC = 0;
  uint32_t NumForcedGC = 0;
  double GCCPUFraction = 0;
};
void read_mem_stats(MemStats* m);

// Go's debug.FreeOSMemory: a full collection (as collect()), then every
// free heap page and every pooled goroutine stack given back to the OS
// now, rather than at the background scavenger's pace. From a goroutine.
void free_os_memory();

}  // namespace gort::gc
