// Goroutine dumps: see sched/traceback.hpp and sched/README.md ("Goroutine
// dumps"). Mirrors Go's traceback.go: a header per goroutine, then its
// frames, innermost first.
//
// A frame-pointer walk needs only where a stack stands: a parked or queued
// goroutine's frame pointer and pc are in the block its context switch
// saved (stack::saved_frame); a goroutine stopped by the stop signal has
// them in the signal's context; the dumping goroutine reads its own.
#include "sched/traceback.hpp"

#include <execinfo.h>
#include <signal.h>
#include <sys/ucontext.h>

#include <algorithm>
#include <cinttypes>
#include <vector>

#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/raw_vector.hpp"
#include "runtime/internal/symbolize.hpp"
#include "sched/garena.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"

namespace gort::sched {

namespace {

constexpr int kMaxFrames = 100;  // Go's _TracebackMaxFrames
constexpr uintptr_t kNoWait = UINTPTR_MAX;

// Follows the frame-pointer chain from fp while it stays inside the stack
// [lo, hi): each frame holds its caller's frame pointer, and the return
// address above it. Stops where the chain leaves the stack or fails to
// climb (a frame of code built without frame pointers). Stores each return
// address less one: the call, not the instruction after it.
__attribute__((no_sanitize("address", "thread"))) int walk_frames(uintptr_t fp, uintptr_t lo, uintptr_t hi,
                                                                  uintptr_t* pcs, int max) {
  int n = 0;
  while (n < max && fp >= lo && fp + 2 * sizeof(uintptr_t) <= hi && fp % sizeof(uintptr_t) == 0) {
    const auto* frame = reinterpret_cast<const uintptr_t*>(fp);
    if (frame[1] == 0) break;
    pcs[n++] = frame[1] - 1;
    if (frame[0] <= fp) break;
    fp = frame[0];
  }
  return n;
}

// The noted goroutines, one after another in a flat array of words, so
// that noting them in a pause allocates nothing from malloc:
//   id, state, waited ns (kNoWait), remark, frame count, frames...
struct Notes {
  internal::RawVector<uintptr_t> words;

  // first_pc: a pc exact already (where a signal stopped the goroutine, or
  // the function of one never started), 0 for none; then the frames from fp.
  void add(const G* g, const char* state, uintptr_t waited, const char* remark, uintptr_t first_pc, uintptr_t fp) {
    uintptr_t pcs[kMaxFrames];
    int n = 0;
    if (first_pc) pcs[n++] = first_pc;
    if (fp) n += walk_frames(fp, g->stack.lo, g->stack.hi, pcs + n, kMaxFrames - n);
    add_pcs(g, state, waited, remark, pcs, n);
  }

  void add_pcs(const G* g, const char* state, uintptr_t waited, const char* remark, const uintptr_t* pcs, int n) {
    words.push_back(g->id);
    words.push_back(reinterpret_cast<uintptr_t>(state));
    words.push_back(waited);
    words.push_back(reinterpret_cast<uintptr_t>(remark));
    words.push_back(uintptr_t(n));
    for (int i = 0; i < n; ++i) words.push_back(pcs[i]);
  }
};

uintptr_t waited(const G* g, int64_t now) {
  if (g->status.load(std::memory_order_acquire) != GStatus::kWaiting || g->waitsince == 0) return kNoWait;
  return uintptr_t(std::max<int64_t>(0, now - g->waitsince));
}

// A goroutine that is not running: its stack from its saved context, or
// its function if it never ran.
void note_switched_out(Notes& notes, const G* g, int64_t now) {
  const char* state = goroutine_state(g);
  if (g->ctx) {
    const stack::SavedFrame f = stack::saved_frame(g->ctx);
    notes.add(g, state, waited(g, now), nullptr, f.pc - 1, f.fp);
  } else {
    notes.add(g, state, kNoWait, "not started", reinterpret_cast<uintptr_t>(g->fn.call), 0);
  }
}

// The caller's own goroutine, from this frame up.
__attribute__((noinline)) void note_self(Notes& notes, const G* self) {
  notes.add(self, goroutine_state(self), kNoWait, nullptr, 0, reinterpret_cast<uintptr_t>(__builtin_frame_address(0)));
}

// Every goroutine; the world is stopped. Self first, then those stopped by
// signal on other threads, then the rest in the order they were made.
void note_all(Notes& notes, const G* self) {
  note_self(notes, self);
  const int64_t now = internal::nanotime();  // never behind a coarse stamp: waits are not understated
  internal::RawVector<const G*> in_signal;
  {
    internal::LockGuard l(sched.lock);
    for_each_m_with_goroutine([&](M* m) {
      auto* uc = static_cast<const ucontext_t*>(m->signal_context.load(std::memory_order_acquire));
      const G* g = m->curg;
      if (!uc || !g || g == self) return;
      in_signal.push_back(g);
      const uintptr_t pc = uintptr_t(uc->uc_mcontext.gregs[REG_RIP]);
      const uintptr_t fp = uintptr_t(uc->uc_mcontext.gregs[REG_RBP]);
      // ThreadSanitizer ran the handler late, on the goroutine's stack, with
      // registers copied when the signal came. Their frames still stand if
      // they lie above the handler's (the usual case: the handler runs from
      // TSan's runtime, called by the interrupted code); otherwise the walk
      // starts from the handler, whose chain TSan's frames may cut short.
      const uintptr_t handler_sp = m->signal_scan_from.load(std::memory_order_relaxed);
      if (handler_sp && fp < handler_sp) {
        notes.add(g, goroutine_state(g), kNoWait, nullptr, 0, m->signal_fp.load(std::memory_order_relaxed));
        return;
      }
      notes.add(g, goroutine_state(g), kNoWait, nullptr, pc, fp);
    });
  }
  const GArena& arena = GArena::get();
  for (size_t i = 0, n = arena.count(); i < n; ++i) {
    const G* g = arena.at(i);
    if (g == self || !goroutine_state(g) || std::find(in_signal.begin(), in_signal.end(), g) != in_signal.end())
      continue;
    if (g->status.load(std::memory_order_acquire) == GStatus::kRunning)
      notes.add(g, goroutine_state(g), kNoWait, "its registers are not available", 0, 0);
    else note_switched_out(notes, g, now);
  }
}

void print_wait(std::FILE* out, uintptr_t ns) {
  constexpr uintptr_t kMinute = 60ull * 1000000000;
  // Go prints whole minutes only, from one on; below that, milliseconds.
  if (ns >= kMinute) std::fprintf(out, ", %" PRIuPTR " minutes", ns / kMinute);
  else std::fprintf(out, ", %" PRIuPTR " ms", ns / 1000000);
}

void print(std::FILE* out, const Notes& notes) {
  std::vector<uintptr_t> pcs;
  for (size_t at = 0; at < notes.words.size();) {
    const size_t n = notes.words[at + 4];
    pcs.insert(pcs.end(), &notes.words[at + 5], &notes.words[at + 5] + n);
    at += 5 + n;
  }
  std::sort(pcs.begin(), pcs.end());
  pcs.erase(std::unique(pcs.begin(), pcs.end()), pcs.end());
  const std::vector<std::vector<internal::Symbol>> symbols = internal::symbolize(pcs);
  for (size_t at = 0; at < notes.words.size();) {
    const auto* w = &notes.words[at];
    std::fprintf(out, "goroutine %" PRIuPTR " [%s", w[0], reinterpret_cast<const char*>(w[1]));
    if (w[2] != kNoWait) print_wait(out, w[2]);
    std::fputs("]:\n", out);
    if (w[3]) std::fprintf(out, "\t(%s)\n", reinterpret_cast<const char*>(w[3]));
    const size_t n = w[4];
    for (size_t i = 0; i < n; ++i) {
      const size_t k = size_t(std::lower_bound(pcs.begin(), pcs.end(), w[5 + i]) - pcs.begin());
      for (const internal::Symbol& s : symbols[k])
        std::fprintf(out, "%s\n\t%s\n", s.function.c_str(), s.location.c_str());
    }
    if (n == size_t(kMaxFrames)) std::fputs("...additional frames elided...\n", out);
    std::fputs("\n", out);
    at += 5 + n;
  }
  std::fflush(out);
}

// Off a goroutine: one is started to dump, and the caller waits.
void dump_through_goroutine(std::FILE* out) {
  internal::Note done;
  G* g = newproc_prepare();
  g->fn.emplace([out, &done] {
    dump_goroutines(out);
    done.wakeup();
  });
  newproc_start(g);
  done.sleep();
}

}  // namespace

const char* goroutine_state(const G* g) {
  switch (g->status.load(std::memory_order_acquire)) {
    case GStatus::kRunnable:
      return "runnable";
    case GStatus::kRunning:
      return g->m && g->m->in_blocking_call() ? "syscall" : "running";
    case GStatus::kWaiting:
      return g->wait_reason ? g->wait_reason : "waiting";
    default:
      return nullptr;
  }
}

void dump_goroutines(std::FILE* out) {
  if (!sched.running.load(std::memory_order_acquire) || sched.shutdown.load(std::memory_order_acquire)) return;
  G* self = current_g();
  if (!self || self->m->in_blocking_call()) {
    dump_through_goroutine(out);
    return;
  }
  Notes notes;
  if (!stop_the_world().stopped) return;  // main returned meanwhile: nothing left to dump
  note_all(notes, current_g());
  start_the_world();
  print(out, notes);
}

// Here the stack may hold frames of code built without frame pointers (the
// C++ runtime's std::terminate and __cxa_throw, between a panic's report
// and the throw): the unwinder, which reads the call-frame information that
// exceptions use, walks through them. Not in a pause: it may load libgcc_s.
void dump_current_goroutine(std::FILE* out) {
  const G* self = current_g();
  if (!self) return;
  void* frames[kMaxFrames];
  const int n = backtrace(frames, kMaxFrames);
  uintptr_t pcs[kMaxFrames];
  for (int i = 0; i < n; ++i) pcs[i] = reinterpret_cast<uintptr_t>(frames[i]) - 1;  // return addresses
  Notes notes;
  notes.add_pcs(self, goroutine_state(self), kNoWait, nullptr, pcs, n);
  print(out, notes);
}

}  // namespace gort::sched
