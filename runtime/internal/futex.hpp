// Thin wrappers over the futex system call, the one primitive every
// thread-level wait in gort is built from (runtime locks, M parking notes).
// Mirrors Go's runtime/os_linux.go futexsleep/futexwakeup.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::internal {

// Sleeps while *addr == expected. timeout_ns < 0 waits forever. Spurious
// wake-ups are allowed: callers always re-check their condition.
void futex_wait(std::atomic<uint32_t>* addr, uint32_t expected, int64_t timeout_ns = -1);
void futex_wake(std::atomic<uint32_t>* addr, int count);

}  // namespace gort::internal
