// The public face of the execution tracer (Go's runtime/trace.Start and
// Stop): starting and stopping the recording in sched/trace.cpp, which both
// happen in a stopped world while the runtime runs (Go's StartTrace and
// StopTrace stop it too), and writing the file once the world runs again.
#include "gort/trace.hpp"

#include "runtime/internal/fatal.hpp"
#include "runtime/internal/lock.hpp"
#include "runtime/trace_json.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"
#include "sched/trace.hpp"

namespace gort::trace {

namespace {

// One start or stop at a time, without a lock a goroutine would block its
// thread on: whoever finds it changing is told no.
enum State : int { kOff, kChanging, kOn };
std::atomic<int> state{kOff};
std::FILE* out = nullptr;
bool close_out = false;

// Runs fn(p, g) with the world stopped, p and g the caller's, when the
// runtime runs; else with no P and no goroutine, and nothing to stop.
// False, fn not run: the runtime is shutting down under the caller.
template <class Fn>
bool in_stopped_world(Fn&& fn) {
  if (!sched::sched.running.load(std::memory_order_acquire)) {
    fn(static_cast<sched::P*>(nullptr), static_cast<sched::G*>(nullptr));
    return true;
  }
  sched::G* g = sched::current_g();
  if (!g) internal::fatal("gort::trace::start/stop outside a goroutine while gort::run runs");
  // Runtime code from here to the restart: never stopped by signal.
  ++internal::locks_held();
  if (!sched::stop_the_world().stopped) {
    --internal::locks_held();
    return false;
  }
  fn(sched::current_m()->p, g);
  sched::start_the_world();
  --internal::locks_held();
  return true;
}

bool begin_with(std::FILE* f, bool owned) {
  out = f;
  close_out = owned;
  in_stopped_world([](sched::P* p, sched::G* g) { sched::trace::begin(p, g); });
  state.store(kOn, std::memory_order_release);
  return true;
}

}  // namespace

bool start(const char* path) {
  int off = kOff;
  if (!state.compare_exchange_strong(off, kChanging, std::memory_order_acq_rel)) return false;
  std::FILE* f = std::fopen(path, "w");
  if (!f) {
    state.store(kOff, std::memory_order_release);
    return false;
  }
  return begin_with(f, true);
}

bool start(std::FILE* f) {
  int off = kOff;
  if (!f || !state.compare_exchange_strong(off, kChanging, std::memory_order_acq_rel)) return false;
  return begin_with(f, false);
}

bool stop() {
  int on = kOn;
  if (!state.compare_exchange_strong(on, kChanging, std::memory_order_acq_rel)) return false;
  sched::trace::Chunk* chunks = nullptr;
  if (!in_stopped_world([&](sched::P*, sched::G*) { chunks = sched::trace::end(); })) {
    state.store(kOn, std::memory_order_release);
    return false;
  }
  bool ok = write_chrome_json(out, chunks, sched::trace::clock());
  sched::trace::free_chunks(chunks);
  if (close_out) ok = std::fclose(out) == 0 && ok;
  out = nullptr;
  state.store(kOff, std::memory_order_release);
  return ok;
}

bool active() { return state.load(std::memory_order_acquire) == kOn; }

}  // namespace gort::trace
