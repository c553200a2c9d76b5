// Stack space: where goroutine stack slots come from.
//
// vm.max_map_count (65,530 by default) rules out one mmap per goroutine, so
// slots are carved out of large MAP_NORESERVE reservations ("chunks"). Each
// slot starts with one guard page. On Linux >= 6.13 the guard is a
// MADV_GUARD_INSTALL marker, which faults on access without splitting the
// mapping into separate VMAs; where the kernel lacks it, the first usable
// word of each slot holds a canary that the scheduler checks whenever a
// goroutine switches out. The mode is detected once per process and logged.
//
// Layout of one slot (addresses grow to the right):
//   | guard page | usable stack ........................ | <- hi (top)
//
// Carving happens in batches (see prepare): a goroutine's first run costs
// no system call, only the page fault of its top page.
//
// With several NUMA nodes (runtime/internal/numa.hpp) every chunk belongs
// to one node: its memory policy is set once, when it is reserved (one
// mbind per GiB, so slots of different nodes never split a mapping), and
// each node carves from chunks of its own.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "runtime/internal/lock.hpp"
#include "runtime/internal/numa.hpp"
#include "stack/stack.hpp"

namespace gort::stack {

enum class GuardMode { kGuardPages, kCanary };

class Space {
 public:
  static Space& get();

  // The slot size may change only before the first slot is carved: chunks
  // are divided into equal slots, and the overflow handler relies on it.
  // Returns false (and leaves the size as it is) when it is too late.
  bool set_slot_size(size_t bytes);
  size_t slot_size() const { return slot_size_; }

  GuardMode guard_mode();

  // A never-used slot of node's memory, guard installed. (Pre-faulting top
  // pages with MADV_POPULATE_WRITE was measured: the kernel's
  // get_user_pages path costs more than the plain first-touch fault it
  // replaces.)
  Stack carve(int node = 0);

  // The NUMA node whose memory holds s (0 with a single node).
  int node_of(const Stack& s) const;

  // How many slots were ever carved: bounded when stacks are recycled.
  uint64_t slots_carved() const { return carved_.load(std::memory_order_relaxed); }

  // Async-signal-safe: if addr lies in a slot's guard page, returns true and
  // the slot's usable range.
  bool find_guard(uintptr_t addr, Stack* slot) const;
  // The same for any address in a slot, guard page included.
  bool find_slot(uintptr_t addr, Stack* slot) const;

  // Canary mode only: is the word below the usable range intact?
  bool canary_intact(const Stack& s) const;

 private:
  Space() = default;
  void detect_guard_mode();
  void new_chunk(int node);
  // With lock_ held: up to kPrepareBatch fresh slots of node into out,
  // lowest address last; returns how many.
  size_t reserve_batch(Stack* out, int node);
  void prepare(Stack* batch, size_t n);  // lock not held
  Stack slot_at(uintptr_t chunk_base, size_t index) const;

  // Slots are prepared kPrepareBatch at a time: guards installed with one
  // batched system call, not one per slot.
  static constexpr size_t kPrepareBatch = 256;

  static constexpr size_t kMaxChunks = 4096;
  static constexpr size_t kChunkBytes = size_t(1) << 30;

  internal::Lock lock_;
  size_t slot_size_ = kDefaultSlotSize;
  size_t slots_per_chunk_ = 0;
  GuardMode mode_ = GuardMode::kGuardPages;
  bool detected_ = false;
  bool reported_ = false;  // guard_mode() has logged the choice

  // Published chunk bases; the signal handler reads them without locks.
  std::atomic<uintptr_t> chunks_[kMaxChunks] = {};
  uint8_t chunk_node_[kMaxChunks] = {};
  std::atomic<size_t> nchunks_{0};
  // Per node: the chunk it carves from, the next slot there, and slots
  // prepared but not handed out yet.
  struct NodeState {
    uintptr_t chunk = 0;
    size_t next_in_chunk = 0;
    Stack prepared[kPrepareBatch];
    size_t nprepared = 0;
  };
  NodeState nodes_[internal::numa::kMaxNodes];
  std::atomic<uint64_t> carved_{0};
};

}  // namespace gort::stack
