// Stack overflow reporting.
//
// A goroutine that runs past the bottom of its slot touches the guard page.
// The resulting SIGSEGV is handled on a per-thread alternate signal stack
// (the goroutine's own stack is exhausted), the faulting address is matched
// against the slot table, and the process ends with one line naming the
// goroutine and its stack size, as Go's "fatal error: stack overflow" does.
// Faults elsewhere go to whichever handler was installed before (ASan's, or
// the default action), so ordinary crashes still look ordinary.
#pragma once

#include <cstdint>

#include "stack/stack.hpp"

namespace gort::stack {

// Installs the process-wide handler once.
void install_overflow_handler();

// The fatal error for a goroutine that ran past its slot s (also called
// when a goroutine switches out with its canary smashed).
[[noreturn]] void report_overflow(uint64_t goroutine_id, const Stack& s, const char* how);

// Each thread that runs goroutines owns one of these for its lifetime.
class AltSignalStack {
 public:
  AltSignalStack();
  ~AltSignalStack();
  AltSignalStack(const AltSignalStack&) = delete;
  AltSignalStack& operator=(const AltSignalStack&) = delete;

  uintptr_t lo() const { return reinterpret_cast<uintptr_t>(mem_); }
  uintptr_t hi() const;

 private:
  void* mem_;
};

}  // namespace gort::stack
