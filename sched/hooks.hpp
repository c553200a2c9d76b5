// What the layers above the scheduler hang on it. sched/ never includes gc/
// or runtime/: the runtime layer installs these before it starts the
// scheduler (runtime/runtime.cpp), and the scheduler calls them at the
// moments only it knows.
#pragma once

namespace gort::sched {

struct P;

struct Hooks {
  // p is going away with the runtime: give back what the layers above
  // cache on it (the collector's allocation cache).
  void (*release_p)(P* p) = nullptr;
  // The runtime is going away: forget whatever the layers above keep in
  // goroutine stacks that are about to be reused (root ranges in frames
  // that will never return), except the stacks of zombies (Sched::zombies).
  void (*forget_stacks)() = nullptr;
};

void set_hooks(const Hooks& hooks);
const Hooks& hooks();

}  // namespace gort::sched
