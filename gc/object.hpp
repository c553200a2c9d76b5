// The header in front of every collected object: what it is (for tracing
// and destruction) and how many elements it holds. 16 bytes keep the object
// itself 16-byte aligned.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/gc.hpp"

namespace gort::gc {

struct Header {
  const detail::TypeInfo* type;
  uint32_t count;
  // A sweep (in a pause) sets kFinalizing when it finds the object dead with
  // a destructor to run; whoever runs the destructor then sets kFinalized,
  // perhaps while the next collection's sweep reads the flags.
  std::atomic<uint32_t> flags;

  static constexpr uint32_t kFinalizing = 1;  // listed for its destructor
  static constexpr uint32_t kFinalized = 2;   // destructor has run

  void* object() { return reinterpret_cast<char*>(this) + sizeof(Header); }
};
static_assert(sizeof(Header) == 16);

}  // namespace gort::gc
