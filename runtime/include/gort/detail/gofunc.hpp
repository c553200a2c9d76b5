// Type-erased storage for a goroutine's function, held inside its G record.
// Small callables (most lambdas) live in the G itself, so starting a
// goroutine allocates nothing once G records are being recycled.
#pragma once

#include <cstddef>
#include <new>
#include <type_traits>
#include <utility>

namespace gort::detail {

struct GoFunc {
  static constexpr size_t kInlineBytes = 48;

  // Runs the callable, then destroys it (also when it throws).
  void (*call)(GoFunc&) = nullptr;
  // Destroys the callable without running it (a goroutine never started).
  void (*discard)(GoFunc&) = nullptr;
  alignas(16) unsigned char buf[kInlineBytes];
  // Where the callable's captures live (buf, or the heap), scanned by the
  // collector like a stack: a goroutine may hold collected objects only
  // through what it captured.
  const void* captures = nullptr;
  size_t captures_size = 0;

  template <class Fn>
  void emplace(Fn&& fn) {
    using T = std::decay_t<Fn>;
    if constexpr (sizeof(T) <= kInlineBytes && alignof(T) <= 16) {
      ::new (static_cast<void*>(buf)) T(std::forward<Fn>(fn));
      captures = buf;
      captures_size = sizeof(T);
      call = [](GoFunc& self) {
        T* f = std::launder(reinterpret_cast<T*>(self.buf));
        struct Destroy {
          GoFunc& self;
          T* f;
          ~Destroy() {
            self.captures = nullptr;
            f->~T();
          }
        } destroy{self, f};
        (*f)();
      };
      discard = [](GoFunc& self) {
        self.captures = nullptr;
        std::launder(reinterpret_cast<T*>(self.buf))->~T();
      };
    } else {
      T* heap = new T(std::forward<Fn>(fn));
      ::new (static_cast<void*>(buf)) T*(heap);
      captures = heap;
      captures_size = sizeof(T);
      call = [](GoFunc& self) {
        T* f = *std::launder(reinterpret_cast<T**>(self.buf));
        struct Destroy {
          GoFunc& self;
          T* f;
          ~Destroy() {
            self.captures = nullptr;
            delete f;
          }
        } destroy{self, f};
        (*f)();
      };
      discard = [](GoFunc& self) {
        self.captures = nullptr;
        delete *std::launder(reinterpret_cast<T**>(self.buf));
      };
    }
  }
};

}  // namespace gort::detail
