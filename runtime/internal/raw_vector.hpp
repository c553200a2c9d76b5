// A growable array of plain values in memory mapped from the kernel, never
// from malloc.
//
// Threads are stopped by signal wherever they are, malloc included, where
// they may hold malloc's locks (glibc's arena lock, a sanitizer allocator's
// region lock). A thread that cannot be stopped - the collector in a pause,
// or any thread holding a runtime lock (internal::locks_held) - must then
// never call malloc: it could wait for ever on a stopped thread's lock while
// the stopper waits for it. So the runtime's own growable arrays (run
// queues, timer heaps, stack pools, the grey list) are RawVectors (Go's
// runtime never calls the C allocator, for the same reason).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#include "runtime/internal/sysmem.hpp"

namespace gort::internal {

template <class T>
class RawVector {
  static_assert(std::is_trivially_copyable_v<T>, "RawVector holds plain values only");

 public:
  RawVector() = default;
  ~RawVector() { release(); }
  RawVector(RawVector&& other) noexcept { swap(other); }
  RawVector& operator=(RawVector&& other) noexcept {
    if (this != &other) {
      release();
      size_ = 0;
      swap(other);
    }
    return *this;
  }
  RawVector(const RawVector&) = delete;
  RawVector& operator=(const RawVector&) = delete;

  void push_back(const T& v) {
    if (size_ == capacity_) grow(size_ + 1);
    data_[size_++] = v;
  }
  void append(const T* first, size_t n) {
    if (size_ + n > capacity_) grow(size_ + n);
    if (n) std::memcpy(static_cast<void*>(data_ + size_), first, n * sizeof(T));
    size_ += n;
  }
  // Drops the first n values, keeping the order of the rest.
  void erase_front(size_t n) {
    if (n < size_) std::memmove(static_cast<void*>(data_), data_ + n, (size_ - n) * sizeof(T));
    size_ = n < size_ ? size_ - n : 0;
  }
  // n values; new ones are zero.
  void resize(size_t n) {
    if (n > capacity_) grow(n);
    if (n > size_) std::memset(static_cast<void*>(data_ + size_), 0, (n - size_) * sizeof(T));
    size_ = n;
  }
  T* data() { return data_; }
  void pop_back() { --size_; }
  T& back() { return data_[size_ - 1]; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // Keeps the memory for the next use.
  void clear() { size_ = 0; }

 private:
  static constexpr size_t kMinBytes = 64 * 1024;

  void grow(size_t at_least) {
    const size_t bytes = std::max({kMinBytes, capacity_ * sizeof(T) * 2, at_least * sizeof(T)});
    T* bigger = static_cast<T*>(map_memory(bytes, "the runtime's work lists"));
    if (size_) std::memcpy(static_cast<void*>(bigger), data_, size_ * sizeof(T));
    release();
    data_ = bigger;
    capacity_ = bytes / sizeof(T);
  }
  void release() {
    if (data_) unmap_memory(data_, capacity_ * sizeof(T));
    data_ = nullptr;
    capacity_ = 0;
  }
  void swap(RawVector& other) {
    std::swap(data_, other.data_);
    std::swap(size_, other.size_);
    std::swap(capacity_, other.capacity_);
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace gort::internal
