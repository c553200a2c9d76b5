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
// - gc::make<T>(args...) allocates a T on the collected heap;
//   gc::make_array<T>(n) n default-constructed Ts.
// - A type whose objects hold collected pointers stores them in gc::ref<T>
//   fields and declares trace(Visitor&), calling the visitor on each. A type
//   without trace() is taken to be pointer-free: it is never scanned (Go's
//   noscan spans), so it must not hold collected pointers.
// - Raw T* are fine in goroutines' local variables (stacks are scanned
//   conservatively) and in gc::root<T> globals, but not in memory the
//   collector does not scan (malloc'd memory, std::vector, channel buffers).
// - A T with a non-trivial destructor has it run once the object is found
//   unreachable, after the collection's pause, never inside it. Destructors
//   must not follow gc::ref fields: what they point to may be gone already.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <new>
#include <type_traits>
#include <utility>

namespace gort::gc {

class Visitor;

namespace detail {

struct TypeInfo {
  void (*trace)(const void* obj, Visitor& v);  // null: pointer-free
  void (*destroy)(void* obj);                  // null: trivially destructible
  size_t elem_size;
};

// Allocates count elements of type (zeroed) after a 16-byte header; may run
// a collection first when the heap has grown past its goal.
void* alloc_object(const TypeInfo* type, size_t count);

// Set while the collector marks concurrently with goroutines (not yet: the
// current collector stops the world, so the barrier never fires).
extern std::atomic<bool> write_barrier_enabled;
void write_barrier_slow(const void* old_value, const void* new_value);

template <class T>
concept Traceable = requires(const T& t, Visitor& v) { t.trace(v); };

template <class T>
const TypeInfo* type_info() {
  using TraceFn = void (*)(const void*, Visitor&);
  using DestroyFn = void (*)(void*);
  TraceFn trace = nullptr;
  if constexpr (Traceable<T>) trace = [](const void* obj, Visitor& v) { static_cast<const T*>(obj)->trace(v); };
  DestroyFn destroy = nullptr;
  if constexpr (!std::is_trivially_destructible_v<T>) destroy = [](void* obj) { static_cast<T*>(obj)->~T(); };
  static const TypeInfo info{trace, destroy, sizeof(T)};
  return &info;
}

void register_root(const void* const* slot);
void unregister_root(const void* const* slot);

}  // namespace detail

// Handed to T::trace; marks what each reference points to.
class Visitor {
 public:
  template <class R>
  void operator()(const R& r) {
    mark(r.get());
  }
  void mark(const void* p);

 private:
  friend class Marker;
  explicit Visitor(void* marker) : marker_(marker) {}
  void* marker_;
};

// A pointer to a collected object, stored inside a collected object.
template <class T>
class ref {
 public:
  ref() = default;
  ref(T* p) : p_(p) {}  // NOLINT: converting, like a pointer
  ref(const ref& other) : p_(other.p_) {}
  ref& operator=(T* p) {
    if (detail::write_barrier_enabled.load(std::memory_order_relaxed)) [[unlikely]]
      detail::write_barrier_slow(p_, p);
    p_ = p;
    return *this;
  }
  ref& operator=(const ref& other) { return *this = other.p_; }

  T* get() const { return p_; }
  T* operator->() const { return p_; }
  T& operator*() const { return *p_; }
  explicit operator bool() const { return p_ != nullptr; }

 private:
  T* p_ = nullptr;
};

template <class T, class... Args>
T* make(Args&&... args) {
  void* mem = detail::alloc_object(detail::type_info<T>(), 1);
  return ::new (mem) T(std::forward<Args>(args)...);
}

template <class T>
T* make_array(size_t n) {
  T* a = static_cast<T*>(detail::alloc_object(detail::type_info<T>(), n));
  for (size_t i = 0; i < n; ++i) ::new (static_cast<void*>(a + i)) T();
  return a;
}

// A global (or long-lived) root: the object it points to stays alive.
template <class T>
class root {
 public:
  root(T* p = nullptr) : p_(p) { detail::register_root(slot()); }
  ~root() { detail::unregister_root(slot()); }
  root(const root&) = delete;
  root& operator=(const root&) = delete;
  root& operator=(T* p) {
    p_ = p;
    return *this;
  }
  T* get() const { return p_; }
  T* operator->() const { return p_; }

 private:
  const void* const* slot() const { return reinterpret_cast<const void* const*>(&p_); }
  T* p_;
};

// Runs a full collection now (from a goroutine).
void collect();

struct Stats {
  uint64_t num_gc = 0;
  size_t heap_live = 0;        // bytes in objects found live by the last collection
  size_t heap_alloc = 0;       // bytes in objects allocated now (live + not yet collected)
  size_t next_gc = 0;          // heap_alloc at which the next collection starts
  uint64_t freed_objects = 0;  // over all collections
  int64_t last_pause_ns = 0;
  int64_t total_pause_ns = 0;
};
Stats stats();

}  // namespace gort::gc
