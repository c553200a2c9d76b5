// The runtime's count of locks the running thread holds, for code that must
// not be stopped halfway by the stop signal (sched/stw.cpp): while it is
// not 0 the signal leaves the thread running and asks again a moment later.
// Runtime locks and the allocator hold it (runtime/internal/lock.hpp), and
// so does a pointer store through the write barrier (collected.hpp).
#pragma once

namespace gort::detail {

// locks held += delta. On x86-64 one add relative to %fs, the thread
// pointer read at the moment it runs: an asm statement the compiler can
// neither cache nor move, so it is safe across a goroutine's moves between
// threads (HACKING.md, "Thread-locals") and costs no call. Elsewhere a call.
void add_locks_held_call(int delta);
inline void add_locks_held(int delta) {
#if defined(__x86_64__)
  asm volatile(
      "movq gort_locks_held_tls@gottpoff(%%rip), %%rax\n\t"
      "addl %0, %%fs:(%%rax)"
      :
      : "ir"(delta)
      : "rax", "cc", "memory");
#else
  add_locks_held_call(delta);
#endif
}

}  // namespace gort::detail
