// A goroutine stack: one fixed virtual slot, [lo, hi), growing down from hi.
//
// The slot never moves, so C++ pointers into a goroutine's stack stay valid
// for the goroutine's life. Physical pages arrive on first touch (the
// kernel's demand paging is gort's "stack growth"), so a goroutine that
// parks after using a few hundred bytes costs one page of RSS.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::stack {

inline constexpr size_t kPageSize = 4096;
inline constexpr size_t kDefaultSlotSize = 256 * 1024;
// Below the stack pointer a leaf function may keep values (System V x86-64
// ABI): live to a stack scan, never given back by a shrink.
inline constexpr uintptr_t kRedZone = 128;

struct Stack {
  uintptr_t lo = 0;  // lowest usable byte, just above the guard page
  uintptr_t hi = 0;  // one past the highest byte; the stack pointer starts here

  size_t size() const { return hi - lo; }
  explicit operator bool() const { return hi != 0; }
};

}  // namespace gort::stack
