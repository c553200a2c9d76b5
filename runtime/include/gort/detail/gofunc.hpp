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

  template <class Fn>
  void emplace(Fn&& fn) {
    using T = std::decay_t<Fn>;
    if constexpr (sizeof(T) <= kInlineBytes && alignof(T) <= 16) {
      ::new (static_cast<void*>(buf)) T(std::forward<Fn>(fn));
      call = [](GoFunc& self) {
        T* f = std::launder(reinterpret_cast<T*>(self.buf));
        struct Destroy {
          T* f;
          ~Destroy() { f->~T(); }
        } destroy{f};
        (*f)();
      };
      discard = [](GoFunc& self) { std::launder(reinterpret_cast<T*>(self.buf))->~T(); };
    } else {
      T* heap = new T(std::forward<Fn>(fn));
      ::new (static_cast<void*>(buf)) T*(heap);
      call = [](GoFunc& self) {
        T* f = *std::launder(reinterpret_cast<T**>(self.buf));
        struct Destroy {
          T* f;
          ~Destroy() { delete f; }
        } destroy{f};
        (*f)();
      };
      discard = [](GoFunc& self) { delete *std::launder(reinterpret_cast<T**>(self.buf)); };
    }
  }
};

}  // namespace gort::detail
