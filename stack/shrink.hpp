// Stack shrinking: giving back the pages a parked goroutine's stack holds
// far below where it now runs (Go's shrinkstack, runtime/stack.go).
//
// Go copies a stack that uses less than a quarter of its size into one
// half as large. gort's stacks never move, so shrinking here means
// decommitting: the pages below the live part go back to the kernel and
// fault in again, zeroed, if the goroutine recurses that deep once more.
// The collector does it while it scans a parked goroutine's stack, holding
// the claim that keeps the goroutine from running (gc/roots.cpp), so no
// frame the goroutine will return to is ever touched.
//
// What a slot holds is the run of committed pages down from its top: the
// stack grows one page after the next (-fstack-clash-protection probes
// every page of a large frame), and a shrink cuts the run from below. So
// one mincore of the page at four times the live depth says whether the
// stack holds more than four times what it uses. (Code built without
// stack-clash protection can skip pages; such a stack is shrunk less, never
// wrongly.)
#pragma once

#include <sys/uio.h>

#include <cstdint>

#include "stack/stack.hpp"

namespace gort::stack {

// If s, whose goroutine is switched out with its stack pointer at sp, holds
// at least four times the pages it uses, sets *release to the pages below
// twice its live depth (Go halves) and returns true. The System V red zone
// below sp counts as live.
bool shrinkable(const Stack& s, uintptr_t sp, iovec* release);

// Gives the ranges back to the kernel (MADV_DONTNEED), in one batched call.
void release(iovec* ranges, size_t n);

}  // namespace gort::stack
