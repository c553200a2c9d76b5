#include "sched/sigquit.hpp"

#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "runtime/internal/fatal.hpp"
#include "sched/sched.hpp"
#include "sched/traceback.hpp"

namespace gort::sched {

namespace {

std::atomic<bool> signalled{false};
std::atomic<bool> dumper_started{false};

// Async-signal-safe: atomics and a futex wake-up.
void on_sigquit(int) {
  const int saved_errno = errno;  // the interrupted code must not see the futex call's
  signalled.store(true, std::memory_order_release);
  if (!sched.running.load(std::memory_order_acquire)) {
    // No runtime, no goroutines, nobody to hand the dump to.
    internal::SignalHandlerScope in_handler;
    internal::die_of_quit(nullptr);
  }
  sched.sysmon_note.wakeup();
  errno = saved_errno;
}

void dump_all(std::FILE* out) { dump_goroutines(out); }

}  // namespace

void install_quit_signal() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa;
    std::memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigquit;
    sa.sa_flags = SA_ONSTACK | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGQUIT, &sa, nullptr);
  });
}

namespace {
sigset_t quit_only() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGQUIT);
  return set;
}
}  // namespace

QuitSignalBlocked::QuitSignalBlocked() {
  const sigset_t set = quit_only();
  pthread_sigmask(SIG_BLOCK, &set, &old_);
}

QuitSignalBlocked::~QuitSignalBlocked() { pthread_sigmask(SIG_SETMASK, &old_, nullptr); }

void unblock_quit_signal() {
  const sigset_t set = quit_only();
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
}

void quit_if_signalled() {
  if (!signalled.load(std::memory_order_acquire) || dumper_started.exchange(true, std::memory_order_acq_rel)) return;
  G* g = newproc_prepare();
  g->fn.emplace([] { internal::die_of_quit(dump_all); });
  newproc_start(g);
}

bool quit_pending() { return signalled.load(std::memory_order_acquire); }

}  // namespace gort::sched
