// The public face of the scheduler: gort::run, gort::go and friends.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gc/barrier.hpp"
#include "gc/collector.hpp"
#include "gc/forcegc.hpp"
#include "gc/roots.hpp"
#include "gort/gc.hpp"
#include "gort/runtime.hpp"
#include "gort/trace.hpp"
#include "runtime/config.hpp"
#include "runtime/internal/config.hpp"
#include "runtime/internal/fatal.hpp"
#include "runtime/internal/log.hpp"
#include "sched/hooks.hpp"
#include "sched/sched.hpp"
#include "sched/traceback.hpp"
#include "stack/space.hpp"

namespace gort {

namespace detail {

std::atomic<uint32_t> preempt_requests{0};

void preempt_check_slow() { sched::preempt_check_slow(); }
__attribute__((noinline)) void blocking_call(void (*fn)(void*), void* arg) {
  // Callee-saved registers may hold the caller's pointers all through fn;
  // this spills them into this frame, which stays live below the caller's.
  __builtin_unwind_init();
  sched::G* g = sched::current_g();
  if (g) g->syscall_sp = reinterpret_cast<uintptr_t>(__builtin_frame_address(0)) - 512;
  sched::entersyscall();
  fn(arg);
  sched::exitsyscall();
  if (g) g->syscall_sp = 0;
}

void* newproc_prepare() { return sched::newproc_prepare(); }

GoFunc& newproc_func(void* g) { return static_cast<sched::G*>(g)->fn; }

void newproc_start(void* g) { sched::newproc_start(static_cast<sched::G*>(g)); }

namespace {

// GORTTRACE=file: the execution trace of the process, from its first
// gort::run to its exit, when the file is written (a trace started by
// gort::trace::start before takes precedence).
void trace_from_knob() {
  static const bool started = [] {
    const char* path = internal::knobs().trace;
    if (!path || trace::active()) return false;
    if (!trace::start(path))
      internal::fatal("GORTTRACE=\"", path, "\": cannot create the file: ", std::strerror(errno));
    std::atexit([] {
      // exit() from a thread outside the runtime while it runs cannot stop
      // the world to take the trace.
      if (sched::sched.running.load() && !sched::current_g()) {
        internal::log().warn("gort: GORTTRACE: exit outside a goroutine while gort::run runs; no trace written");
        return;
      }
      if (trace::active() && !trace::stop()) internal::log().warn("gort: GORTTRACE: writing the trace failed");
    });
    return true;
  }();
  (void)started;
}

}  // namespace

void run_main(void (*fn)(void*), void* arg, const Config& cfg) {
  const runtime::Settings s = runtime::resolve(cfg);
  if (s.max_stack && !stack::Space::get().set_slot_size(s.max_stack))
    internal::log().warn("gort: max_stack {} ignored: stacks of {} bytes already exist in this process", s.max_stack,
                         stack::Space::get().slot_size());
  // Once per process: the functions never change, and sysmon reads them
  // without a lock while a runtime runs (a gort::run nested in another's
  // goroutine would otherwise write them under it).
  static const bool hooks_installed = [] {
    sched::set_hooks({&gc::release_p, &gc::detail::forget_roots_in_dead_stacks, &gc::shade_words, &gc::scan_own_stack,
                      &gc::hand_over_gc_work, &gc::periodic_gc});
    return true;
  }();
  (void)hooks_installed;
  trace_from_knob();
  sched::run_main(fn, arg, s.gomaxprocs);
}

}  // namespace detail

void yield() { sched::yield(); }

uint64_t goid() {
  sched::G* g = sched::current_g();
  return g ? g->id : 0;
}

int gomaxprocs() { return sched::sched.gomaxprocs; }

int64_t num_goroutine() { return sched::num_goroutine(); }

void dump_goroutines(std::FILE* out) { sched::dump_goroutines(out); }

SchedStats sched_stats() {
  SchedStats s;
  for (sched::P* p : sched::sched.allp) s.executed_per_p.push_back(p->executed.load());
  return s;
}

}  // namespace gort
