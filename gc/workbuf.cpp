#include "gc/workbuf.hpp"

#include <atomic>
#include <new>

#include "runtime/internal/lock.hpp"
#include "runtime/internal/sysmem.hpp"

namespace gort::gc::workbufs {

namespace {

constexpr size_t kBlocksPerMap = 16;

internal::Lock lock;
Workbuf* empty_list = nullptr;
Workbuf* full_lists[internal::numa::kMaxNodes] = {};
std::atomic<size_t> full_count{0};

}  // namespace

Workbuf* get_empty() {
  {
    internal::LockGuard l(lock);
    if (Workbuf* b = empty_list) {
      empty_list = b->next;
      b->next = nullptr;
      return b;
    }
  }
  auto* blocks = static_cast<Workbuf*>(internal::map_memory(kBlocksPerMap * sizeof(Workbuf), "the collector's work list"));
  for (size_t i = 1; i < kBlocksPerMap; ++i) put_empty(::new (&blocks[i]) Workbuf);
  return ::new (&blocks[0]) Workbuf;
}

void put_empty(Workbuf* b) {
  b->count = 0;
  internal::LockGuard l(lock);
  b->next = empty_list;
  empty_list = b;
}

void put_full(Workbuf* b, int node) {
  internal::LockGuard l(lock);
  b->next = full_lists[node];
  full_lists[node] = b;
  full_count.fetch_add(1, std::memory_order_release);
}

Workbuf* try_get_full(int node) {
  if (full_count.load(std::memory_order_acquire) == 0) return nullptr;
  internal::LockGuard l(lock);
  for (int i = 0; i < internal::numa::kMaxNodes; ++i) {
    const int n = (node + i) % internal::numa::kMaxNodes;
    if (Workbuf* b = full_lists[n]) {
      full_lists[n] = b->next;
      b->next = nullptr;
      full_count.fetch_sub(1, std::memory_order_relaxed);
      return b;
    }
  }
  return nullptr;
}

bool any_full() { return full_count.load(std::memory_order_acquire) != 0; }

void discard_all() {
  for (;;) {
    Workbuf* b = try_get_full(0);
    if (!b) return;
    put_empty(b);
  }
}

}  // namespace gort::gc::workbufs
