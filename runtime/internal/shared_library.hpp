// Is an instruction address inside a shared library (the C library, the
// C++ library, a sanitizer's runtime) rather than the program itself? A
// thread stopped for good must not be stopped there: it may hold malloc's
// or stdio's locks, which the rest of the process still needs.
#pragma once

#include <cstdint>

namespace gort::internal {

// Records where the loaded shared libraries' code lies. Call before the
// first in_shared_library, from a normal context (not a signal handler);
// libraries loaded later are not known.
void note_shared_libraries();

// Async-signal-safe.
bool in_shared_library(uintptr_t pc);

}  // namespace gort::internal
