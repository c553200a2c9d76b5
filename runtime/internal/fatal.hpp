// The one way out when the runtime cannot go on (Go's throw and fatal in
// runtime/panic.go).
//
//   internal::throw_error("sweep: span ", id, " is free")   a bug in gort itself
//   internal::fatal("all goroutines are asleep - deadlock!") the program's fault
//
// Both print Go's line, `fatal error: <message>`, then the goroutine that
// died (or every goroutine, for a deadlock), flush stdio so that what the
// program printed before is not lost, and exit with status 2, as Go does.
// throw_error adds the native stack of the thread, since a runtime bug is
// debugged from there. Messages are assembled without allocating, so the
// signal handlers (stack overflow) die through the same function.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string_view>
#include <type_traits>

namespace gort::internal {

// A fixed-size line built from strings and integers: no malloc, no locale,
// safe inside a signal handler.
class Message {
 public:
  Message& put(std::string_view s);
  Message& put(const char* s) { return put(std::string_view(s ? s : "(null)")); }
  Message& put_unsigned(unsigned long long v);
  Message& put_signed(long long v);
  template <class T>
  requires std::is_integral_v<T> Message& put(T v) {
    if constexpr (std::is_same_v<T, bool>) return put(v ? "true" : "false");
    else if constexpr (std::is_signed_v<T>) return put_signed(v);
    else return put_unsigned(v);
  }

  const char* data() const { return buf_; }
  size_t size() const { return n_; }

 private:
  char buf_[512];
  size_t n_ = 0;
};

enum class Traceback {
  kCurrent,  // the goroutine that died
  kAll,      // every goroutine and what it waits for (a deadlock)
};

// Filled in by the scheduler at start-up; the fatal path lives below it.
struct DeathHooks {
  // The running goroutine's id, 0 off goroutines. Async-signal-safe.
  uint64_t (*current_goroutine)() = nullptr;
  // Writes "goroutine N [reason]:" for every goroutine to fd.
  void (*print_goroutines)(int fd) = nullptr;
};
void set_death_hooks(const DeathHooks& hooks);

// The running goroutine's id through the hook (0 off goroutines, or before
// the scheduler started). Async-signal-safe.
uint64_t current_goroutine_id();

// Marks the calling thread as running a signal handler while it lives, so
// that dying from there skips what is not async-signal-safe.
class SignalHandlerScope {
 public:
  SignalHandlerScope();
  ~SignalHandlerScope();
  SignalHandlerScope(const SignalHandlerScope&) = delete;
  SignalHandlerScope& operator=(const SignalHandlerScope&) = delete;
};

enum class DeathKind { kThrow, kFatal };
[[noreturn]] void die(DeathKind kind, Traceback traceback, const Message& message);

template <class... Parts>
[[noreturn]] void throw_error(const Parts&... parts) {
  Message m;
  (m.put(parts), ...);
  die(DeathKind::kThrow, Traceback::kCurrent, m);
}

template <class... Parts>
[[noreturn]] void fatal(const Parts&... parts) {
  Message m;
  (m.put(parts), ...);
  die(DeathKind::kFatal, Traceback::kCurrent, m);
}

// Go's unrecovered panic: `panic: <what>`, then what report writes to
// stderr (the panicking goroutine and its stack; null: its id alone), exit 2.
[[noreturn]] void die_of_panic(std::string_view what, void (*report)(std::FILE*) = nullptr);

// Go's end on SIGQUIT: `SIGQUIT: quit`, then what report writes to stderr
// (every goroutine; null inside a signal handler, which may not), exit 2.
[[noreturn]] void die_of_quit(void (*report)(std::FILE*));

}  // namespace gort::internal
