#include "stack/pool.hpp"

#include <sys/mman.h>

#include <algorithm>

#include "stack/advise.hpp"
#include "stack/space.hpp"

namespace gort::stack {

Pool& Pool::get() {
  static Pool pool;
  return pool;
}

void Pool::take(Stack* out, size_t n, int node) {
  size_t got = 0;
  {
    internal::LockGuard g(lock_);
    Lists& lists = nodes_[node];
    for (auto* list : {&lists.dirty, &lists.warm, &lists.cold}) {
      while (got < n && !list->empty()) {
        out[got++] = list->back();
        list->pop_back();
      }
    }
  }
  while (got < n) out[got++] = Space::get().carve(node);
}

void Pool::give(const Stack* in, size_t n) {
  if (n == 0) return;
  Lists& lists = nodes_[Space::get().node_of(in[0])];
  internal::RawVector<Stack> batch;
  {
    internal::LockGuard g(lock_);
    lists.dirty.append(in, n);
    if (lists.dirty.size() <= kMaxDirty) return;
    // The oldest half: the most recently freed slots stay hot for reuse.
    batch.append(lists.dirty.begin(), kMaxDirty / 2);
    lists.dirty.erase_front(kMaxDirty / 2);
  }
  trim(batch, lists);
}

void Pool::trim_all() {
  for (Lists& lists : nodes_) {
    internal::RawVector<Stack> batch;
    {
      internal::LockGuard g(lock_);
      batch.append(lists.dirty.begin(), lists.dirty.size());
      lists.dirty.clear();
    }
    trim(batch, lists);
  }
}

void Pool::release_all() {
  for (Lists& lists : nodes_) {
    internal::RawVector<Stack> batch;
    {
      internal::LockGuard g(lock_);
      batch.append(lists.dirty.begin(), lists.dirty.size());
      batch.append(lists.warm.begin(), lists.warm.size());
      lists.dirty.clear();
      lists.warm.clear();
    }
    trim(batch, lists, false);
  }
}

void Pool::trim(internal::RawVector<Stack>& batch, Lists& to, bool keep_top_pages) {
  if (batch.empty()) return;
  size_t nwarm = 0;
  if (keep_top_pages) {
    internal::LockGuard g(lock_);
    nwarm = to.warm.size() < kMaxWarm ? std::min(kMaxWarm - to.warm.size(), batch.size()) : 0;
  }
  std::sort(batch.begin(), batch.end(), [](const Stack& a, const Stack& b) { return a.lo < b.lo; });
  internal::RawVector<iovec> ranges;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Stack& s = batch[i];
    if (i < nwarm) {
      ranges.push_back({reinterpret_cast<void*>(s.lo), s.size() - kPageSize});
      continue;
    }
    const uintptr_t lo = s.lo;
    const bool adjacent = i > nwarm && !ranges.empty() &&
                          reinterpret_cast<uintptr_t>(ranges.back().iov_base) + ranges.back().iov_len + kPageSize == lo;
    if (adjacent) ranges.back().iov_len += kPageSize + s.size();  // spans the guard page between
    else ranges.push_back({reinterpret_cast<void*>(lo), s.size()});
  }
  advise(ranges.data(), ranges.size(), MADV_DONTNEED);
  internal::LockGuard g(lock_);
  to.warm.append(batch.begin(), nwarm);
  to.cold.append(batch.begin() + nwarm, batch.size() - nwarm);
}

size_t Pool::count(internal::RawVector<Stack> Lists::*list) const {
  internal::LockGuard g(lock_);
  size_t n = 0;
  for (const Lists& lists : nodes_) n += (lists.*list).size();
  return n;
}

size_t Pool::dirty() const { return count(&Lists::dirty); }

size_t Pool::warm() const { return count(&Lists::warm); }

size_t Pool::cold() const { return count(&Lists::cold); }

Pool::Usage Pool::usage() const {
  const Space& space = Space::get();
  const uint64_t slot = space.slot_size();
  const uint64_t dirty_n = dirty(), warm_n = warm(), cold_n = cold();
  const uint64_t carved = space.slots_carved();
  const uint64_t pooled = std::min<uint64_t>(carved, dirty_n + warm_n + cold_n);
  Usage u;
  u.inuse = (carved - pooled) * slot;
  u.sys = u.inuse + dirty_n * slot + warm_n * kPageSize;
  return u;
}

void Cache::refill() {
  Pool::get().take(slots_.data(), kCapacity / 2, node_);
  n_ = kCapacity / 2;
}

void Cache::drain(size_t count) {
  n_ -= count;
  Pool::get().give(&slots_[n_], count);
}

bool Cache::home(const Stack& s) {
  if (Space::get().node_of(s) == node_) return true;
  Pool::get().give(&s, 1);
  return false;
}

}  // namespace gort::stack
