// G: one goroutine (Go's g in runtime2.go).
//
// A G owns no stack until it first runs: spawning a goroutine fills in a
// recycled record and queues it, and the stack slot is bound by the M that
// first executes it. A million queued-but-not-started goroutines therefore
// cost a million small records, not a million stacks; the slot goes back to
// the P's stack cache the moment the goroutine exits.
#pragma once

#include <atomic>
#include <cstdint>

#include "gort/detail/gofunc.hpp"
#include "stack/context.hpp"
#include "stack/stack.hpp"

namespace gort::sched {

struct M;

enum class GStatus : uint32_t {
  kIdle,      // in a free list, no function
  kRunnable,  // in a run queue
  kRunning,   // on an M
  kWaiting,   // parked: blocked in a channel, lock, timer...
  kDead,      // exited, record awaiting reuse
};

struct G {
  uint64_t id = 0;
  std::atomic<GStatus> status{GStatus::kIdle};
  stack::Stack stack;
  stack::Context ctx = nullptr;  // saved registers while not running
  M* m = nullptr;                // the M running it, while running
  G* schedlink = nullptr;        // run-queue and free-list link
  detail::GoFunc fn;

  // Parking: what it waits for (a static string a debugger can print) and
  // since when (a goroutine dump prints both), the wake-up's argument (for select, which case won), and the select race
  // flag that makes exactly one channel win a parked select.
  const char* wait_reason = nullptr;
  int64_t waitsince = 0;  // coarse_nanotime() when it parked (Go's waitsince)
  void* param = nullptr;
  std::atomic<uint32_t> select_done{0};
  bool is_main = false;
  // One of the runtime's own (the background sweeper): not counted by
  // num_goroutine, as Go does not count its system goroutines.
  bool is_system = false;
  // Set by a system goroutine while its stack holds no root (the background
  // sweeper, except while it runs destructors): the collector skips that
  // stack, whose frames hold stale addresses of objects it swept.
  bool holds_no_roots = false;

  // Set by sysmon when the goroutine has run for over 10 ms; honoured at
  // its next safe point.
  std::atomic<bool> preempt{false};

  // The collector's concurrent stack scan (sched/gcscan.hpp): held by
  // whoever reads this stack while it is not running (Go's _Gscan bit); the
  // marking cycle whose scan covers the stack as it is now (Go's
  // gcscandone); a request to scan itself at the next safe point; and the
  // link of the rescan list.
  std::atomic<bool> gcscan_lock{false};
  std::atomic<uint32_t> gcscan_cycle{0};
  std::atomic<bool> gcscan_request{false};
  std::atomic<bool> on_rescan_list{false};
  G* rescan_link = nullptr;
  // Set each time it starts running: only a goroutine that ran since the
  // collector last looked at its stack can hold pages to give back
  // (stack/shrink.hpp); read and cleared by whoever holds gcscan_lock or
  // with the world stopped.
  std::atomic<bool> ran_since_shrink_check{false};

  // Readied while tracing: its next start draws the arrow from the wake-up.
  bool trace_unblocked = false;

  // Inside gort::blocking: the lowest stack address live during the call
  // (its registers are spilled above it); 0 otherwise. The collector scans
  // such a goroutine's stack from here.
  uintptr_t syscall_sp = 0;

  void* asan_fake_stack = nullptr;
  void* tsan_fiber = nullptr;
};

// An intrusive LIFO/FIFO list of Gs linked through schedlink.
struct GList {
  G* head = nullptr;
  G* tail = nullptr;
  int32_t size = 0;

  bool empty() const { return head == nullptr; }
  void push_back(G* g) {
    g->schedlink = nullptr;
    if (tail) tail->schedlink = g;
    else head = g;
    tail = g;
    ++size;
  }
  void push_front(G* g) {
    g->schedlink = head;
    head = g;
    if (!tail) tail = g;
    ++size;
  }
  G* pop_front() {
    G* g = head;
    if (!g) return nullptr;
    head = g->schedlink;
    if (!head) tail = nullptr;
    g->schedlink = nullptr;
    --size;
    return g;
  }
};

}  // namespace gort::sched
