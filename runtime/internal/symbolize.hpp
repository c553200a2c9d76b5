// Names for code addresses, for goroutine dumps: the function, demangled,
// and the source file and line where the binary carries debug information.
//
// binutils' addr2line reads them from the ELF file of the object each
// address lies in (found with dladdr), from its full symbol table - the
// program's own static functions and lambdas included, which dladdr, seeing
// only exported symbols, cannot name. Without addr2line, dladdr's names.
// Allocates and starts processes: never in a pause or a signal handler.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace gort::internal {

struct Symbol {
  std::string function = "?";  // "?" when unknown
  std::string location;        // "file.cpp:42", else "object +0xoffset"
};

// The functions at each pc, in order: one, or, where calls were inlined
// there (debug information tells), the inlined ones innermost first, then
// the function containing them - each a frame of its own in a dump, as Go
// prints inlined calls. A pc should point into an instruction: pass a
// return address minus one, so that a call at the end of a function is not
// named after the next one.
std::vector<std::vector<Symbol>> symbolize(const std::vector<uintptr_t>& pcs);

}  // namespace gort::internal
