#include "runtime/internal/fatal.hpp"

#include <execinfo.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdio>

namespace gort::internal {

namespace {

std::atomic<uint64_t (*)()> current_goroutine_hook{nullptr};
std::atomic<void (*)(int)> print_goroutines_hook{nullptr};
std::atomic<bool> someone_dying{false};
__thread int signal_handler_depth = 0;
__thread bool this_thread_dying = false;

void write_all(const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(2, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= size_t(w);
  }
}

void write_message(const Message& m) { write_all(m.data(), m.size()); }

// Everything but the exit itself. A second thread that fails while the
// first is printing waits for the first to end the process, so the two
// reports do not interleave.
[[noreturn]] void die_with(const Message& first_line, DeathKind kind, Traceback traceback,
                           void (*report)(std::FILE*) = nullptr) {
  const bool in_signal_handler = signal_handler_depth > 0;
  if (this_thread_dying) _exit(2);  // failed again while reporting
  this_thread_dying = true;
  if (someone_dying.exchange(true)) {
    for (;;) pause();
  }
  // What the program printed before must not be lost in stdio's buffers,
  // but stdio is not async-signal-safe.
  if (!in_signal_handler) std::fflush(nullptr);
  write_message(first_line);
  auto print_all = print_goroutines_hook.load(std::memory_order_acquire);
  auto current = current_goroutine_hook.load(std::memory_order_acquire);
  if (report && !in_signal_handler) {
    write_all("\n", 1);
    report(stderr);
    std::fflush(stderr);
  } else if (traceback == Traceback::kAll && print_all && !in_signal_handler) {
    write_all("\n", 1);
    print_all(2);
  } else if (const uint64_t id = current ? current() : 0) {
    Message m;
    m.put("\ngoroutine ").put(id).put(" [running]:\n");
    write_message(m);
  }
  if (kind == DeathKind::kThrow && !in_signal_handler) {
    static constexpr std::string_view kHeader = "\nruntime stack:\n";
    write_all(kHeader.data(), kHeader.size());
    void* pcs[64];
    const int n = backtrace(pcs, 64);
    backtrace_symbols_fd(pcs, n, 2);
  }
  _exit(2);
}

}  // namespace

Message& Message::put(std::string_view s) {
  for (char c : s) {
    if (n_ == sizeof buf_) break;
    buf_[n_++] = c;
  }
  return *this;
}

Message& Message::put_unsigned(unsigned long long v) {
  char digits[24];
  int i = 0;
  do {
    digits[i++] = char('0' + v % 10);
    v /= 10;
  } while (v != 0);
  while (i > 0 && n_ < sizeof buf_) buf_[n_++] = digits[--i];
  return *this;
}

Message& Message::put_signed(long long v) {
  if (v < 0) {
    put("-");
    return put_unsigned(0ULL - static_cast<unsigned long long>(v));
  }
  return put_unsigned(static_cast<unsigned long long>(v));
}

void set_death_hooks(const DeathHooks& hooks) {
  current_goroutine_hook.store(hooks.current_goroutine, std::memory_order_release);
  print_goroutines_hook.store(hooks.print_goroutines, std::memory_order_release);
}

uint64_t current_goroutine_id() {
  auto current = current_goroutine_hook.load(std::memory_order_acquire);
  return current ? current() : 0;
}

SignalHandlerScope::SignalHandlerScope() { ++signal_handler_depth; }
SignalHandlerScope::~SignalHandlerScope() { --signal_handler_depth; }

void die(DeathKind kind, Traceback traceback, const Message& message) {
  Message line;
  line.put("fatal error: ").put(std::string_view(message.data(), message.size())).put("\n");
  die_with(line, kind, traceback);
}

void die_of_panic(std::string_view what, void (*report)(std::FILE*)) {
  Message line;
  line.put("panic: ").put(what).put("\n");
  die_with(line, DeathKind::kFatal, Traceback::kCurrent, report);
}

void die_of_quit(void (*report)(std::FILE*)) {
  Message line;
  line.put("SIGQUIT: quit\n");
  die_with(line, DeathKind::kFatal, Traceback::kCurrent, report);
}

}  // namespace gort::internal
