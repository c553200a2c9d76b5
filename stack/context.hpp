// Context switching between stacks, on Boost.Context's fcontext primitives.
//
// jump() saves the callee-saved registers and the stack pointer on the
// current stack and resumes another context; it returns when somebody jumps
// back, telling us who that was. That is all a goroutine switch needs (about
// 10 ns per round trip here), so gort uses fcontext directly rather than
// Boost.Fiber's scheduler.
//
// AddressSanitizer must be told about every switch, or it mistakes the new
// stack for a gigantic frame of the old one. Every jump is bracketed:
//   start_switch(&my_fake_stack, target_bottom, target_size);
//   jump(...);
//   finish_switch(my_fake_stack, &from_bottom, &from_size);
// A context that will never be resumed (an exiting goroutine) passes nullptr
// as fake-stack save so ASan frees its fake frames.
#pragma once

#include <cstddef>
#include <cstdint>

#include <boost/context/detail/fcontext.hpp>

#include "stack/stack.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define GORT_ASAN 1
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#else
#define GORT_ASAN 0
#endif

#if defined(__SANITIZE_THREAD__)
#define GORT_TSAN 1
#include <sanitizer/tsan_interface.h>
#else
#define GORT_TSAN 0
#endif

namespace gort::stack {

using Context = boost::context::detail::fcontext_t;
using Transfer = boost::context::detail::transfer_t;
using Entry = void (*)(Transfer);

// Prepares a fresh context at the top of s that calls entry on first jump.
inline Context make_context(const Stack& s, Entry entry) {
  return boost::context::detail::make_fcontext(reinterpret_cast<void*>(s.hi), s.size(), entry);
}

inline Transfer jump(Context to, void* data) { return boost::context::detail::jump_fcontext(to, data); }

// Where a switched-out context stands, for a stack walk (a goroutine dump,
// tools/gdb/gort.py): jump_fcontext (x86-64 System V) saves its callee-saved
// registers in a block at the saved stack pointer, the frame pointer 0x30
// bytes in, and its return address - a pc in whoever called jump - right
// above the block. The frame pointer is that caller's: jump builds no frame.
struct SavedFrame {
  uintptr_t pc = 0;
  uintptr_t fp = 0;
};
inline constexpr size_t kSavedFpOffset = 0x30;
inline constexpr size_t kSavedPcOffset = 0x38;

// Reads another goroutine's stack, where the sanitizers see only stale
// frames.
__attribute__((no_sanitize("address", "thread"))) inline SavedFrame saved_frame(Context ctx) {
  const auto* block = static_cast<const unsigned char*>(ctx);
  return {*reinterpret_cast<const uintptr_t*>(block + kSavedPcOffset),
          *reinterpret_cast<const uintptr_t*>(block + kSavedFpOffset)};
}

inline void start_switch([[maybe_unused]] void** fake_stack_save, [[maybe_unused]] const void* target_bottom,
                         [[maybe_unused]] size_t target_size) {
#if GORT_ASAN
  __sanitizer_start_switch_fiber(fake_stack_save, target_bottom, target_size);
#endif
}

inline void finish_switch([[maybe_unused]] void* fake_stack_save, [[maybe_unused]] const void** from_bottom,
                          [[maybe_unused]] size_t* from_size) {
#if GORT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, from_bottom, from_size);
#endif
}

// ThreadSanitizer keeps a shadow state per stack ("fiber"): each goroutine
// gets one, each M's g0 uses its thread's, and every jump first tells TSan
// which fiber runs next. Without TSan these compile to nothing.
inline void* tsan_current_fiber() {
#if GORT_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}

inline void* tsan_create_fiber() {
#if GORT_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}

inline void tsan_destroy_fiber([[maybe_unused]] void* fiber) {
#if GORT_TSAN
  if (fiber) __tsan_destroy_fiber(fiber);
#endif
}

inline void tsan_switch_to([[maybe_unused]] void* fiber) {
#if GORT_TSAN
  __tsan_switch_to_fiber(fiber, 0);
#endif
}

// A recycled slot still carries the poisoned redzones of frames that never
// returned (a goroutine exits by jumping away from its entry frame).
inline void unpoison([[maybe_unused]] const Stack& s) {
#if GORT_ASAN
  __asan_unpoison_memory_region(reinterpret_cast<void*>(s.lo), s.size());
#endif
}

}  // namespace gort::stack
