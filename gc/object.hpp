// What sits in front of every collected object: one word, its header,
// saying what it is (for tracing and destruction) and whether it is owed a
// destructor. Go keeps that in span-wide bitmaps and pays nothing per
// object; gort pays a word, which puts a 16-byte object in a 24-byte slot
// and a three-pointer one in Go's own 32-byte class.
//
// An array (gc::make_array, any count but one) or an over-aligned type
// (alignas(16) and up) needs two more facts, its element count and how far
// into its slot it starts; those go in a second word, its extent, at the
// start of the slot, and the header still sits right before the object:
//
//   one element, align <= 8:  | header | object ...
//   array or over-aligned:    | extent | (offset bytes) | header | object ...
//
// So the owner of an object finds its header without a lookup (object - 8),
// and whoever starts from a slot (the marker, the sweeper) reads its first
// word: the extent's tag bit, which no header has, says which layout it is.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/detail/collected.hpp"

namespace gort::gc {

struct Header {
  // The type in the low 48 bits (x86-64 user addresses fit), the flags
  // above. Written by the allocating goroutine (the type, published last;
  // kConstructed), by a sweep (kDestroyListed), and by whoever runs the
  // destructor (kDestroyed), perhaps while the next collection's sweep
  // reads them. Destructors, not finalizers: they run once an object is
  // dead, and cannot revive it.
  std::atomic<uint64_t> word;

  static constexpr uint64_t kTypeMask = (uint64_t(1) << 48) - 1;
  static constexpr uint64_t kConstructed = uint64_t(1) << 48;    // destructor due when it dies
  static constexpr uint64_t kDestroyListed = uint64_t(1) << 49;  // listed for its destructor
  static constexpr uint64_t kDestroyed = uint64_t(1) << 50;      // destructor has run

  static const detail::TypeInfo* type_of(uint64_t word) {
    return reinterpret_cast<const detail::TypeInfo*>(word & kTypeMask);
  }
  static Header* of(void* object) { return static_cast<Header*>(object) - 1; }
};
static_assert(sizeof(Header) == 8);

// The first word of the slot of an array or an over-aligned object.
struct Extent {
  static constexpr uint64_t kTag = uint64_t(1) << 63;  // never set in a header
  static uint64_t encode(uint32_t count, uint16_t offset) { return kTag | uint64_t(offset) << 32 | count; }
};

inline constexpr size_t kShortHeaderBytes = sizeof(Header);
inline constexpr size_t kLongHeaderBytes = sizeof(Header) + sizeof(uint64_t);

// An object as whoever holds its slot address sees it. `word` is the
// header as read once (acquire: a type seen comes with its object's
// memory); reading it again could meet another layout's word mid-allocation.
struct ObjectView {
  Header* header;
  char* start;
  uint32_t count;
  uint64_t word;

  const detail::TypeInfo* type() const { return Header::type_of(word); }
};

inline ObjectView view_slot(uintptr_t slot) {
  auto* first = reinterpret_cast<std::atomic<uint64_t>*>(slot);
  const uint64_t w = first->load(std::memory_order_acquire);
  if (!(w & Extent::kTag)) return {reinterpret_cast<Header*>(slot), reinterpret_cast<char*>(slot) + kShortHeaderBytes, 1, w};
  const auto offset = static_cast<uint16_t>(w >> 32);
  auto* header = reinterpret_cast<Header*>(slot + sizeof(uint64_t) + offset);
  return {header, reinterpret_cast<char*>(header + 1), static_cast<uint32_t>(w), header->word.load(std::memory_order_acquire)};
}

}  // namespace gort::gc
