// Recycling of stack slots, two levels deep as in Go's stackcache/stackpool
// (runtime/stack.go):
//
//   per-P Cache  -- no lock, owned by the P that runs the goroutines
//        | refill / drain in batches of half its capacity
//   global Pool  -- one runtime lock; new slots are carved from Space here
//
// A slot in a Cache keeps all its committed pages: it is about to be used
// again. The Pool holds three kinds of free slot:
//   dirty  just given back, pages as the goroutine left them; reused first
//          (no page faults), at most kMaxDirty of them
//   warm   trimmed to their top page, enough for a goroutine to start and
//          park without a fault; at most kMaxWarm
//   cold   fully decommitted
// Trimming is batched: when dirty overflows, its oldest half is sorted by
// address, adjacent cold slots are merged into one range (guard markers
// survive MADV_DONTNEED), and all ranges go to the kernel in a single
// process_madvise call per 1,024. One madvise per slot would cost a TLB
// shoot-down IPI each (~10 us here); the batch pays it once.
//
// With several NUMA nodes the Pool keeps those lists per node and a Cache
// holds slots of its P's node only: a goroutine that exits on another
// node's P sends its slot home, so a new goroutine's stack is memory of
// the node it starts on.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "runtime/internal/lock.hpp"
#include "runtime/internal/numa.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "stack/stack.hpp"

namespace gort::stack {

class Pool {
 public:
  static Pool& get();

  // Fills out[0..n) with slots of node, carving new ones when the pool has
  // none.
  void take(Stack* out, size_t n, int node = 0);
  // Gives n slots back, all of one node; their memory is returned to the
  // OS in batches.
  void give(const Stack* in, size_t n);
  // Returns the memory of every dirty slot to the OS now.
  void trim_all();
  // Returns the memory of every pooled slot to the OS, top pages included,
  // once the runtime has gone: the goroutines of the next gort::run start
  // on zeroed stacks. A frame leaves some slots unwritten (padding, a
  // sanitizer's red zones), and what a goroutine of the last run left
  // there, scanned conservatively, would keep alive whatever object the
  // heap has since put at that address.
  void release_all();

  size_t dirty() const;
  size_t warm() const;
  size_t cold() const;

  // What the stacks hold, counted as Go's MemStats does (a slot counts its
  // whole size): inuse, slots held by goroutines and the Ps' caches; sys,
  // those and the pooled slots still committed (dirty ones whole, warm
  // ones their top page).
  struct Usage {
    uint64_t inuse = 0;
    uint64_t sys = 0;
  };
  Usage usage() const;

 private:
  static constexpr size_t kMaxDirty = 512;
  static constexpr size_t kMaxWarm = 4096;

  struct Lists {
    internal::RawVector<Stack> dirty;
    internal::RawVector<Stack> warm;
    internal::RawVector<Stack> cold;
  };

  // keep_top_pages: the first slots of the batch, up to kMaxWarm in all,
  // keep their top page (warm); the rest go cold.
  void trim(internal::RawVector<Stack>& batch, Lists& to, bool keep_top_pages = true);
  size_t count(internal::RawVector<Stack> Lists::*list) const;

  // Off malloc: stacks are taken and given back in the middle of goroutine
  // switches, where no malloc may run (HACKING.md).
  mutable internal::Lock lock_;
  Lists nodes_[internal::numa::kMaxNodes];
};

class Cache {
 public:
  static constexpr size_t kCapacity = 32;

  // The node whose slots this cache holds (its P's).
  void set_node(int node) {
    node_ = node;
    numa_ = internal::numa::topology().aware();
  }

  Stack alloc() {
    if (n_ == 0) refill();
    return slots_[--n_];
  }
  void free(const Stack& s) {
    if (numa_ && !home(s)) return;
    if (n_ == kCapacity) drain(kCapacity / 2);
    slots_[n_++] = s;
  }
  // Returns every cached slot to the global pool (a P going away).
  void drain_all() { drain(n_); }

 private:
  void refill();
  void drain(size_t count);
  // True if s belongs to this cache's node; else gives it to the pool.
  bool home(const Stack& s);

  std::array<Stack, kCapacity> slots_{};
  size_t n_ = 0;
  int node_ = 0;
  bool numa_ = false;
};

}  // namespace gort::stack
