// Invariants the runtime states, checked rather than only written down (Go's
// assertLockHeld, and throw on a broken invariant).
//
// Checks are compiled in where NDEBUG is not defined - the ASan and TSan
// builds that tools/test runs, and debug builds - and cost nothing in
// release builds: the condition is not even evaluated there. A broken
// invariant is a bug in gort and dies through throw_error.
#pragma once

#include "runtime/internal/fatal.hpp"

#if defined(NDEBUG)
#define GORT_CHECKS 0
#else
#define GORT_CHECKS 1
#endif

// GORT_CHECK(condition, "what must hold"). A macro only so that release
// builds do not evaluate the condition.
#define GORT_CHECK(condition, what)                                                                    \
  do {                                                                                                 \
    if constexpr (GORT_CHECKS) {                                                                       \
      if (!(condition)) [[unlikely]]                                                                   \
        ::gort::internal::throw_error("invariant broken: ", what, " (", __FILE__, ":", __LINE__, ")"); \
    }                                                                                                  \
  } while (0)
