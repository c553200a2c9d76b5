// Go's checkdead: when no goroutine can ever run again, say so and end the
// process, instead of sleeping for ever at 0% CPU.
//
// The hard part for a C++ runtime is threads outside it: any of them may
// still send on a buffered channel or start a goroutine, so while one lives
// nothing is dead (as in Go, where an M that cgo may call back on counts as
// running). The runtime knows its own threads by id; every other thread in
// /proc/self/task is such a possible waker - except the helper threads a
// sanitizer starts behind the program's back, counted once at load.
#include <dirent.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <thread>
#include <vector>

#include "runtime/internal/fatal.hpp"
#include "sched/netpoll.hpp"
#include "sched/sched.hpp"

namespace gort::sched {

std::vector<pid_t> thread_ids() {
  std::vector<pid_t> ids;
  if (DIR* dir = opendir("/proc/self/task")) {
    while (dirent* e = readdir(dir))
      if (e->d_name[0] != '.') ids.push_back(pid_t(std::atoi(e->d_name)));
    closedir(dir);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

namespace {

// Threads present before main() but the main thread: a sanitizer's. Under
// ThreadSanitizer its background thread appears with the process's first
// pthread_create, so one is made (and joined) here to bring it out.
const std::vector<pid_t> sanitizer_threads = [] {
#if defined(__SANITIZE_THREAD__)
  std::thread([] {}).join();
#endif
  std::vector<pid_t> ids = thread_ids();
  ids.erase(std::remove(ids.begin(), ids.end(), getpid()), ids.end());
  return ids;
}();

bool ours(pid_t tid) {
  if (tid == sched.runner_tid || tid == sched.sysmon_tid.load(std::memory_order_relaxed) ||
      tid == sched.factory_tid.load(std::memory_order_relaxed))
    return true;
  for (M* m : sched.allm)
    if (m->tid.load(std::memory_order_acquire) == tid) return true;
  for (pid_t t : sched.abandoned_tids)
    if (t == tid) return true;
  return std::binary_search(sanitizer_threads.begin(), sanitizer_threads.end(), tid);
}

// No P running, nothing queued, and nothing inside the runtime that could
// ever ready a goroutine: no timer, no socket waited on, no thread inside
// gort::blocking.
bool looks_dead() {
  internal::assert_lock_held(sched.lock);
  if (!sched.main_started || sched.shutdown.load(std::memory_order_acquire) ||
      sched.main_returned.load(std::memory_order_acquire) || sched.gcwaiting.load(std::memory_order_acquire))
    return false;
  if (sched.npidle.load(std::memory_order_acquire) != sched.gomaxprocs || !sched.runq.empty()) return false;
  for (P* p : sched.allp)
    if (!p->runq.empty() || p->timers.first_when() != 0) return false;
  if (netpoll_waiters() > 0) return false;
  for (M* m : sched.allm)
    if (m->in_blocking_call()) return false;
  return true;
}

}  // namespace

DeadCheck checkdead() {
  {
    internal::LockGuard l(sched.lock);
    if (!looks_dead()) return DeadCheck::kAlive;
  }
  // The census allocates: taken with no lock held (HACKING.md), then the
  // verdict is checked again under the lock.
  const std::vector<pid_t> threads = thread_ids();
  internal::LockGuard l(sched.lock);
  if (!looks_dead()) return DeadCheck::kAlive;
  for (pid_t tid : threads)
    if (!ours(tid)) return DeadCheck::kForeignThreads;  // an M still starting counts too: no false verdict
  internal::Message m;
  m.put("all goroutines are asleep - deadlock!");
  internal::die(internal::DeathKind::kFatal, internal::Traceback::kAll, m);
}

}  // namespace gort::sched
