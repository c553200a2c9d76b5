// AddressSanitizer's view of the collected heap: a slot that holds no object
// is poisoned, so that a use of an object the collector freed (a pointer it
// could not see) is reported at once instead of silently reading whatever
// was allocated there next. Free on other builds.
#pragma once

#include <cstddef>
#include <cstdint>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

namespace gort::gc {

inline void poison([[maybe_unused]] uintptr_t base, [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __asan_poison_memory_region(reinterpret_cast<void*>(base), size);
#endif
}

inline void unpoison([[maybe_unused]] uintptr_t base, [[maybe_unused]] size_t size) {
#if defined(__SANITIZE_ADDRESS__)
  __asan_unpoison_memory_region(reinterpret_cast<void*>(base), size);
#endif
}

}  // namespace gort::gc
