// Marking (Go's mgcmark.go and the gcWork of mgcwork.go): a Marker is one
// marking agent - a background mark worker, a goroutine paying a mark
// assist, a P's write barrier, the collector in a pause - with grey objects
// of its own in local work blocks (workbuf.hpp). mark() greys: it sets the
// object's mark bit and, if the object may hold pointers, queues it.
// drain() blackens: it runs each grey object's trace() over its elements,
// which greys whatever their gc::ref fields point to. Markers share work
// only in whole blocks, so greying and blackening take no lock.
//
// Roots are conservative ranges (roots.hpp), where any word that points
// into an allocated object - interior pointers included - keeps it alive.
//
// With several NUMA nodes grey objects are filed by the node whose heap
// region holds them, and a marker blackens those of its own node first:
// only when its node has nothing grey left does it reach into another
// node's memory.
//
// Check mode (GODEBUG=gccheckmark=1, checkmark.hpp) marks into a second
// bitmap, to verify the first.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "gc/workbuf.hpp"
#include "gort/detail/collected.hpp"
#include "runtime/internal/numa.hpp"

namespace gort::gc {

// What every marker of this cycle did, summed as each one flushes.
struct MarkTotals {
  std::atomic<int64_t> marked_bytes{0};  // bytes in objects marked: the live heap once done
  std::atomic<int64_t> scan_work{0};     // bytes of objects blackened (Go's scan work)
  std::atomic<int64_t> stack_bytes{0};   // bytes of goroutine stacks scanned
  std::atomic<int64_t> root_bytes{0};    // bytes of root ranges scanned (gctrace's globals)
  void reset() {
    marked_bytes.store(0);
    scan_work.store(0);
    stack_bytes.store(0);
    root_bytes.store(0);
  }
};
extern MarkTotals mark_totals;

class Marker {
 public:
  // node: the NUMA node whose CPUs it runs on.
  explicit Marker(int node);
  ~Marker() { flush(); }
  Marker(const Marker&) = delete;
  Marker& operator=(const Marker&) = delete;

  // Greys the object containing addr, if addr points into one.
  void mark(uintptr_t addr);
  void scan_range(uintptr_t lo, uintptr_t hi);
  void scan_stack(uintptr_t lo, uintptr_t hi) {
    if (lo < hi) stack_bytes_ += int64_t(hi - lo);
    scan_range(lo, hi);
  }
  // scan_stack, keeping every word it read in copy[(hi - lo) / 8]: the
  // words rescan_changed may skip later, since what they point to is grey.
  void scan_stack_keeping(uintptr_t lo, uintptr_t hi, uintptr_t* copy);
  // Greys what the words of [lo, hi) that no longer equal copy[] point to.
  void rescan_changed(uintptr_t lo, uintptr_t hi, const uintptr_t* copy);
  void scan_root_range(uintptr_t lo, uintptr_t hi) {
    if (lo < hi) root_bytes_ += int64_t(hi - lo);
    scan_range(lo, hi);
  }
  // Greys what the object at slot references without marking the object
  // itself: a finalizer's object (Go's markrootSpans), which must stay
  // unmarked for the sweep to find it unreachable.
  void trace_object(uintptr_t slot);
  // Blackens grey objects, the local ones first, then the shared ones,
  // until budget bytes were blackened or its goroutine is asked to yield
  // (budget < 0: until none is left anywhere, never giving way). Returns
  // the bytes blackened.
  int64_t drain(int64_t budget);
  // Hands the local grey objects to the shared lists and adds the local
  // counts to mark_totals.
  void flush();
  bool has_local_work() const;
  // Shares a local block once it holds n grey objects, not only when full:
  // a write barrier's marker, whose blocks would otherwise wait for mark
  // termination to drain them inside the pause.
  void hand_off_every(size_t n) { hand_off_at_ = n; }

  // Check mode (checkmark.hpp): marks into Span::check_bits and calls
  // on_unmarked(object) for an object reached from a precise source (a
  // marked object's fields, a root range) whose mark bit is clear.
  void enter_check_mode(void (*on_unmarked)(uintptr_t object, uintptr_t source));
  // Whether what is scanned now is exact (root ranges, traced fields) or
  // conservative and possibly stale (stack words).
  void set_precise_source(bool precise, uintptr_t source = 0) {
    precise_ = precise;
    source_ = source;
  }

 private:
  void push(uintptr_t object, int node);
  bool pop(uintptr_t* object);
  void blacken(uintptr_t object, Visitor& v);

  int node_;
  size_t hand_off_at_ = Workbuf::kEntries;
  Workbuf* local_[internal::numa::kMaxNodes] = {};
  int64_t marked_bytes_ = 0;
  int64_t scan_work_ = 0;
  int64_t stack_bytes_ = 0;
  int64_t root_bytes_ = 0;
  void (*on_unmarked_)(uintptr_t, uintptr_t) = nullptr;
  bool precise_ = false;
  uintptr_t source_ = 0;
};

}  // namespace gort::gc
