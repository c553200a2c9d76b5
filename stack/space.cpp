#include "stack/space.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>

#include <algorithm>

#include "runtime/internal/config.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/log.hpp"
#include "runtime/internal/sysmem.hpp"
#include "stack/advise.hpp"

namespace gort::stack {

namespace {

// Not yet in glibc 2.36's headers; the value is fixed by the kernel ABI.
constexpr int kMadvGuardInstall = 102;
constexpr uint64_t kCanary = 0x676f72742d737463ULL;  // "gort-stc"

}  // namespace

Space& Space::get() {
  static Space space;
  return space;
}

bool Space::set_slot_size(size_t bytes) {
  internal::LockGuard g(lock_);
  const size_t rounded = (bytes + kPageSize - 1) & ~(kPageSize - 1);
  if (rounded == slot_size_) return true;
  if (nchunks_.load(std::memory_order_relaxed) != 0) return false;
  slot_size_ = rounded < 4 * kPageSize ? 4 * kPageSize : rounded;
  return true;
}

GuardMode Space::guard_mode() {
  bool first;
  GuardMode mode;
  {
    internal::LockGuard g(lock_);
    detect_guard_mode();
    first = !reported_;
    reported_ = true;
    mode = mode_;
  }
  // Logging allocates: never under a runtime lock (HACKING.md). What the
  // probe found is debug (GORTLOG=debug), a fallback info: a normal start
  // prints nothing.
  if (!first) return mode;
  if (mode == GuardMode::kGuardPages)
    internal::log().debug("gort: stack guards: MADV_GUARD_INSTALL guard page per {} KiB slot", slot_size_ / 1024);
  else if (internal::knobs().stack_canary)
    internal::log().debug("gort: stack guards: canary check at every switch (forced by GORTSTACKCANARY)");
  else
    internal::log().info(
        "gort: stack guards: kernel lacks MADV_GUARD_INSTALL; "
        "falling back to a canary checked at every switch");
  return mode;
}

// Probe once: reserve two pages and try to guard the first. EINVAL means the
// kernel predates guard markers.
void Space::detect_guard_mode() {
  if (detected_) return;
  detected_ = true;
  void* probe = internal::map_memory(2 * kPageSize, "the stack guard probe");
  const bool ok = madvise(probe, kPageSize, kMadvGuardInstall) == 0;
  internal::unmap_memory(probe, 2 * kPageSize);
  mode_ = ok && !internal::knobs().stack_canary ? GuardMode::kGuardPages : GuardMode::kCanary;
}

Stack Space::slot_at(uintptr_t chunk_base, size_t index) const {
  const uintptr_t base = chunk_base + index * slot_size_;
  return Stack{base + kPageSize, base + slot_size_};
}

void Space::new_chunk(int node) {
  const size_t n = nchunks_.load(std::memory_order_relaxed);
  if (n == kMaxChunks)
    internal::fatal("runtime: stack space exhausted (", kMaxChunks, " chunks of ", slots_per_chunk_, " slots)");
  // Set once, before the first chunk is published: lock-free readers
  // (node_of, find_slot) read it after their acquire of nchunks_.
  if (n == 0) slots_per_chunk_ = std::max<size_t>(kChunkBytes / slot_size_, 1);
  void* base = internal::reserve(slots_per_chunk_ * slot_size_, "a chunk of stack slots");
  internal::numa::place(base, slots_per_chunk_ * slot_size_, node);
  chunks_[n].store(reinterpret_cast<uintptr_t>(base), std::memory_order_relaxed);
  chunk_node_[n] = uint8_t(node);
  nchunks_.store(n + 1, std::memory_order_release);
  nodes_[node].chunk = reinterpret_cast<uintptr_t>(base);
  nodes_[node].next_in_chunk = 0;
}

int Space::node_of(const Stack& s) const {
  if (!internal::numa::topology().aware()) return 0;
  // Newest first: most live slots are in the newest chunks.
  for (size_t i = nchunks_.load(std::memory_order_acquire); i-- > 0;) {
    const uintptr_t base = chunks_[i].load(std::memory_order_relaxed);
    if (s.lo >= base && s.lo < base + slots_per_chunk_ * slot_size_) return chunk_node_[i];
  }
  return 0;
}

Stack Space::carve(int node) {
  // Carving runs in the middle of goroutine switches: fixed arrays, no
  // malloc (HACKING.md).
  Stack batch[kPrepareBatch];
  size_t n;
  {
    internal::LockGuard g(lock_);
    // The runtime asked at start-up (guard_mode); a program that carves
    // slots without a runtime decides here, silently.
    detect_guard_mode();
    carved_.fetch_add(1, std::memory_order_relaxed);
    if (nodes_[node].nprepared > 0) return nodes_[node].prepared[--nodes_[node].nprepared];
    n = reserve_batch(batch, node);
  }
  // The system calls run outside the lock: two Ms short of stacks prepare
  // their batches in parallel (page allocation dominates, and it scales).
  prepare(batch, n);
  const Stack mine = batch[--n];
  internal::LockGuard g(lock_);
  NodeState& ns = nodes_[node];
  for (size_t i = 0; i < n && ns.nprepared < kPrepareBatch; ++i) ns.prepared[ns.nprepared++] = batch[i];
  return mine;
}

size_t Space::reserve_batch(Stack* out, int node) {
  internal::assert_lock_held(lock_);
  NodeState& ns = nodes_[node];
  if (!ns.chunk || ns.next_in_chunk == slots_per_chunk_) new_chunk(node);
  size_t n = 0;
  while (n < kPrepareBatch && ns.next_in_chunk < slots_per_chunk_) out[n++] = slot_at(ns.chunk, ns.next_in_chunk++);
  // Handed out from the back: lowest addresses first.
  std::reverse(out, out + n);
  return n;
}

void Space::prepare(Stack* batch, size_t n) {
  iovec guards[kPrepareBatch];
  for (size_t i = 0; i < n; ++i) {
    const Stack& s = batch[i];
    guards[i] = {reinterpret_cast<void*>(s.lo - kPageSize), kPageSize};
    if (mode_ == GuardMode::kCanary) *reinterpret_cast<uint64_t*>(s.lo - sizeof(uint64_t)) = kCanary;
  }
  if (mode_ == GuardMode::kGuardPages && !advise(guards, n, kMadvGuardInstall))
    internal::fatal("runtime: installing stack guard pages: ", std::strerror(errno));
}

bool Space::canary_intact(const Stack& s) const {
  return *reinterpret_cast<const uint64_t*>(s.lo - sizeof(uint64_t)) == kCanary;
}

bool Space::find_slot(uintptr_t addr, Stack* slot) const {
  const size_t n = nchunks_.load(std::memory_order_acquire);
  const size_t per = slots_per_chunk_;
  for (size_t i = 0; i < n; ++i) {
    const uintptr_t base = chunks_[i].load(std::memory_order_relaxed);
    if (addr < base || addr >= base + per * slot_size_) continue;
    *slot = slot_at(base, (addr - base) / slot_size_);
    return true;
  }
  return false;
}

bool Space::find_guard(uintptr_t addr, Stack* slot) const {
  Stack s;
  if (!find_slot(addr, &s) || addr >= s.lo) return false;
  *slot = s;
  return true;
}

}  // namespace gort::stack
