// What the layers above the scheduler hang on it. sched/ never includes gc/
// or runtime/: the runtime layer installs these before it starts the
// scheduler (runtime/runtime.cpp), and the scheduler calls them at the
// moments only it knows.
#pragma once

#include <cstddef>
#include <cstdint>

namespace gort::sched {

struct P;
struct G;

struct Hooks {
  // p is going away with the runtime: give back what the layers above
  // cache on it (the collector's allocation cache).
  void (*release_p)(P* p) = nullptr;
  // The runtime is going away: forget whatever the layers above keep in
  // goroutine stacks that are about to be reused (root ranges in frames
  // that will never return), except the stacks of zombies (Sched::zombies).
  void (*forget_stacks)() = nullptr;
  // While marking (GcScanState::marking): bytes that hold possible
  // pointers moved where the collector may have looked already - a value
  // a channel hands over, a new goroutine's closure - are shaded.
  void (*shade_range)(const void* base, size_t size) = nullptr;
  // The running goroutine g was asked to scan its stack (request_stack_scan)
  // and reached a safe point.
  void (*scan_own_stack)(G* g) = nullptr;
  // p's M reached a safe point with p asked to hand over its write
  // barrier's grey objects (request_gc_work_hand_over).
  void (*hand_over_gc_work)(P* p) = nullptr;
  // sysmon's round, at nanotime `now`: start a collection if one is due
  // for time alone. Returns the nanoseconds until one may be due, 0 for
  // none, so that sysmon's idle sleep does not outlast it.
  int64_t (*periodic_gc)(int64_t now) = nullptr;
};

void set_hooks(const Hooks& hooks);
const Hooks& hooks();

}  // namespace gort::sched
