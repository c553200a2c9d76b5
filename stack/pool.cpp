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

void Pool::take(Stack* out, size_t n) {
  size_t got = 0;
  {
    internal::LockGuard g(lock_);
    for (auto* list : {&dirty_, &warm_, &cold_}) {
      while (got < n && !list->empty()) {
        out[got++] = list->back();
        list->pop_back();
      }
    }
  }
  while (got < n) out[got++] = Space::get().carve();
}

void Pool::give(const Stack* in, size_t n) {
  internal::RawVector<Stack> batch;
  {
    internal::LockGuard g(lock_);
    dirty_.append(in, n);
    if (dirty_.size() <= kMaxDirty) return;
    // The oldest half: the most recently freed slots stay hot for reuse.
    batch.append(dirty_.begin(), kMaxDirty / 2);
    dirty_.erase_front(kMaxDirty / 2);
  }
  trim(batch);
}

void Pool::trim_all() {
  internal::RawVector<Stack> batch;
  {
    internal::LockGuard g(lock_);
    batch.append(dirty_.begin(), dirty_.size());
    dirty_.clear();
  }
  trim(batch);
}

void Pool::trim(internal::RawVector<Stack>& batch) {
  if (batch.empty()) return;
  size_t nwarm;
  {
    internal::LockGuard g(lock_);
    nwarm = warm_.size() < kMaxWarm ? std::min(kMaxWarm - warm_.size(), batch.size()) : 0;
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
  warm_.append(batch.begin(), nwarm);
  cold_.append(batch.begin() + nwarm, batch.size() - nwarm);
}

size_t Pool::dirty() const {
  internal::LockGuard g(lock_);
  return dirty_.size();
}

size_t Pool::warm() const {
  internal::LockGuard g(lock_);
  return warm_.size();
}

size_t Pool::cold() const {
  internal::LockGuard g(lock_);
  return cold_.size();
}

void Cache::refill() {
  Pool::get().take(slots_.data(), kCapacity / 2);
  n_ = kCapacity / 2;
}

void Cache::drain(size_t count) {
  n_ -= count;
  Pool::get().give(&slots_[n_], count);
}

}  // namespace gort::stack
