#include "runtime/internal/sysmem.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>

#include "runtime/internal/fatal.hpp"

namespace gort::internal {

void* reserve(size_t bytes, const char* what) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (p == MAP_FAILED) fatal("runtime: cannot reserve ", bytes, " bytes of address space for ", what);
  return p;
}

}  // namespace gort::internal

namespace gort::internal {

namespace {
std::atomic<size_t> mapped_bytes{0};
}

void* map_memory(size_t bytes, const char* what) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) fatal("runtime: out of memory: cannot map ", bytes, " bytes for ", what);
  mapped_bytes.fetch_add(bytes, std::memory_order_relaxed);
  return p;
}

void* map_memory_now(size_t bytes, const char* what) {
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) fatal("runtime: out of memory: cannot map ", bytes, " bytes for ", what);
  mapped_bytes.fetch_add(bytes, std::memory_order_relaxed);
  return p;
}

void unmap_memory(void* p, size_t bytes) {
  munmap(p, bytes);
  mapped_bytes.fetch_sub(bytes, std::memory_order_relaxed);
}

size_t mapped_memory_bytes() { return mapped_bytes.load(std::memory_order_relaxed); }

void release_memory(void* p, size_t bytes) {
  // MADV_DONTNEED, not MADV_FREE: the pages must read as zero at once, so
  // that a span cut from them needs no clearing, and RSS drops now.
  if (madvise(p, bytes, MADV_DONTNEED) != 0) fatal("runtime: madvise(MADV_DONTNEED) failed: ", std::strerror(errno));
}

}  // namespace gort::internal
