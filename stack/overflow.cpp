#include "stack/overflow.hpp"

#include <signal.h>

#include <cerrno>
#include <cstring>
#include <mutex>

#include "runtime/internal/fatal.hpp"
#include "runtime/internal/sysmem.hpp"
#include "stack/space.hpp"

namespace gort::stack {

namespace {

constexpr size_t kAltStackSize = 64 * 1024;

struct sigaction previous_segv;
struct sigaction previous_bus;

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
    internal::SignalHandlerScope in_handler;
    report_overflow(internal::current_goroutine_id(), slot, "hit the guard page");
  }
  chain(sig, info, uctx, sig == SIGSEGV ? previous_segv : previous_bus);
}

}  // namespace

void report_overflow(uint64_t goroutine_id, const Stack& s, const char* how) {
  internal::fatal("stack overflow: goroutine ", goroutine_id, " exceeded its ", (s.size() + kPageSize) / 1024,
                  " KiB stack (", how, "; raise GORTMAXSTACK)");
}

void install_overflow_handler() {
  static std::once_flag once;
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

// Without it a stack overflow could not even be reported, and the stop
// signal could not park a thread: both handlers run here.
AltSignalStack::AltSignalStack() {
  mem_ = internal::map_memory(kAltStackSize, "a thread's signal stack");
  stack_t ss{};
  ss.ss_sp = mem_;
  ss.ss_size = kAltStackSize;
  if (sigaltstack(&ss, nullptr) != 0) internal::fatal("runtime: sigaltstack: ", std::strerror(errno));
}

uintptr_t AltSignalStack::hi() const { return lo() + kAltStackSize; }

AltSignalStack::~AltSignalStack() {
  stack_t ss{};
  ss.ss_flags = SS_DISABLE;
  sigaltstack(&ss, nullptr);
  internal::unmap_memory(mem_, kAltStackSize);
}

}  // namespace gort::stack
