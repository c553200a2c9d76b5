// The stack pointer of the calling function: everything it has spilled lies
// at or above it. Used to bound conservative scans of a stack that belongs
// to the running thread.
#pragma once

#include <cstdint>

namespace gort::internal {

__attribute__((always_inline)) inline uintptr_t stack_pointer() {
  uintptr_t sp;
  asm volatile("mov %%rsp, %0" : "=r"(sp));
  return sp;
}

}  // namespace gort::internal
