#include "runtime/internal/shared_library.hpp"

#include <link.h>

#include <atomic>
#include <cstddef>

namespace gort::internal {

namespace {

struct Range {
  uintptr_t lo, hi;
};

constexpr size_t kMaxRanges = 256;
Range ranges[kMaxRanges];
std::atomic<size_t> nranges{0};

int note_object(dl_phdr_info* info, size_t, void* first) {
  // The first object dl_iterate_phdr reports is the program itself.
  if (*static_cast<bool*>(first)) {
    *static_cast<bool*>(first) = false;
    return 0;
  }
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_X)) continue;
    const size_t n = nranges.load(std::memory_order_relaxed);
    if (n == kMaxRanges) return 1;
    ranges[n] = {info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz};
    nranges.store(n + 1, std::memory_order_release);
  }
  return 0;
}

}  // namespace

void note_shared_libraries() {
  if (nranges.load(std::memory_order_acquire) != 0) return;
  bool first = true;
  dl_iterate_phdr(note_object, &first);
}

bool in_shared_library(uintptr_t pc) {
  const size_t n = nranges.load(std::memory_order_acquire);
  for (size_t i = 0; i < n; ++i)
    if (pc >= ranges[i].lo && pc < ranges[i].hi) return true;
  return false;
}

}  // namespace gort::internal
