// A growable array of plain values in memory mapped from the kernel, never
// from malloc.
//
// The collector works while other threads are stopped by signal, and a
// stopped thread may be inside malloc holding its locks (glibc's arena
// lock, a sanitizer allocator's region lock). One malloc on the collector's
// side and the process deadlocks. So whatever the runtime needs while the
// world is stopped - the grey list, the list of objects to destroy - lives
// in a RawVector (Go's runtime keeps its work buffers off the heap it
// collects for the same reason).
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
    if (size_ == capacity_) grow();
    data_[size_++] = v;
  }
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

  void grow() {
    const size_t bytes = std::max(kMinBytes, capacity_ * sizeof(T) * 2);
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
