// The header in front of every collected object: what it is (for tracing
// and destruction), how many elements it holds, and where the object starts.
// 16 bytes keep an object right behind it 16-byte aligned; an over-aligned
// type (alignas(32), alignas(64)) starts `offset` bytes further on, at the
// first suitably aligned address of its slot.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/detail/collected.hpp"

namespace gort::gc {

struct Header {
  const detail::TypeInfo* type;
  uint32_t count;
  // Written by the allocating goroutine (kConstructed), by a sweep in a
  // pause (kDestroyListed), and by whoever runs the destructor (kDestroyed),
  // perhaps while the next collection's sweep reads them. Destructors, not
  // finalizers: they run once an object is dead, and cannot revive it.
  std::atomic<uint16_t> flags;
  uint16_t offset;

  static constexpr uint16_t kConstructed = 1;    // destructor due when it dies
  static constexpr uint16_t kDestroyListed = 2;  // listed for its destructor
  static constexpr uint16_t kDestroyed = 4;      // destructor has run

  void* object() { return reinterpret_cast<char*>(this) + sizeof(Header) + offset; }
  static Header* of(void* object);  // the header of an object from alloc_object, without a lookup
};
static_assert(sizeof(Header) == 16);

}  // namespace gort::gc
