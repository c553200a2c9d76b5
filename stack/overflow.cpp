#include "stack/overflow.hpp"

#include <signal.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "stack/space.hpp"

namespace gort::stack {

namespace {

constexpr size_t kAltStackSize = 64 * 1024;

std::atomic<uint64_t (*)()> current_goroutine_fn{nullptr};
struct sigaction previous_segv;
struct sigaction previous_bus;

// Signal-safe formatting: no malloc, no stdio.
struct Line {
  char buf[256];
  size_t n = 0;
  void put(const char* s) {
    while (*s && n < sizeof buf) buf[n++] = *s++;
  }
  void put(uint64_t v) {
    char tmp[24];
    int i = 0;
    do tmp[i++] = char('0' + v % 10), v /= 10;
    while (v);
    while (i && n < sizeof buf) buf[n++] = tmp[--i];
  }
  void write_out() {
    ssize_t r = ::write(2, buf, n);
    (void)r;
  }
};

void chain(int sig, siginfo_t* info, void* uctx, const struct sigaction& prev) {
  if (prev.sa_flags & SA_SIGINFO) {
    if (prev.sa_sigaction) prev.sa_sigaction(sig, info, uctx);
    return;
  }
  if (prev.sa_handler == SIG_IGN) return;
  if (prev.sa_handler == SIG_DFL || prev.sa_handler == nullptr) {
    // Restore the default action; returning re-executes the faulting
    // instruction, which now kills the process the ordinary way.
    signal(sig, SIG_DFL);
    return;
  }
  prev.sa_handler(sig);
}

void on_fault(int sig, siginfo_t* info, void* uctx) {
  Stack slot;
  if (Space::get().find_guard(reinterpret_cast<uintptr_t>(info->si_addr), &slot)) {
    auto fn = current_goroutine_fn.load(std::memory_order_relaxed);
    report_overflow(fn ? fn() : 0, slot, "hit the guard page");
  }
  chain(sig, info, uctx, sig == SIGSEGV ? previous_segv : previous_bus);
}

}  // namespace

void report_overflow(uint64_t goroutine_id, const Stack& s, const char* how) {
  Line line;
  line.put("fatal error: stack overflow: goroutine ");
  line.put(goroutine_id);
  line.put(" exceeded its ");
  line.put((s.size() + kPageSize) / 1024);
  line.put(" KiB stack (");
  line.put(how);
  line.put("; raise GORTMAXSTACK)\n");
  line.write_out();
  _exit(2);
}

void install_overflow_handler(uint64_t (*current_goroutine)()) {
  static std::once_flag once;
  current_goroutine_fn.store(current_goroutine, std::memory_order_relaxed);
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, &previous_segv);
    sigaction(SIGBUS, &sa, &previous_bus);
  });
}

AltSignalStack::AltSignalStack() {
  mem_ = mmap(nullptr, kAltStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mem_ == MAP_FAILED) {
    mem_ = nullptr;
    return;
  }
  stack_t ss{};
  ss.ss_sp = mem_;
  ss.ss_size = kAltStackSize;
  sigaltstack(&ss, nullptr);
}

AltSignalStack::~AltSignalStack() {
  if (!mem_) return;
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  munmap(mem_, kAltStackSize);
}

}  // namespace gort::stack
