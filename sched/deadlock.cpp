// Go's checkdead: when no goroutine can ever run again, say so and end the
// process, instead of sleeping for ever at 0% CPU.
#include <dirent.h>

#include <algorithm>
#include <cstdlib>
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

// Is there a thread that the runtime did not start and that was not there
// when it started? Such a thread may still send on a channel or start a
// goroutine, so the runtime is not dead while it lives.
bool foreign_thread_exists() {
  internal::assert_lock_held(sched.lock);
  for (pid_t tid : thread_ids()) {
    if (std::binary_search(sched.threads_at_start.begin(), sched.threads_at_start.end(), tid)) continue;
    bool ours = false;
    for (M* m : sched.allm) ours = ours || m->tid.load(std::memory_order_acquire) == tid;
    if (!ours) return true;  // an M still starting counts as foreign: no false verdict
  }
  return false;
}

// Go's checkdead, called by an M about to sleep: if no P runs, no goroutine
// is queued, and nothing can ever ready one (no timer, no socket waited on,
// no thread inside gort::blocking, no thread outside the runtime that might
// send on a channel), every goroutine is blocked for good.
DeadCheck checkdead_locked() {
  internal::assert_lock_held(sched.lock);
  if (!sched.main_started || sched.shutdown.load(std::memory_order_acquire) ||
      sched.main_returned.load(std::memory_order_acquire) ||
      sched.gcwaiting.load(std::memory_order_acquire))
    return DeadCheck::kAlive;
  if (sched.npidle.load(std::memory_order_acquire) != sched.gomaxprocs || !sched.runq.empty())
    return DeadCheck::kAlive;
  for (P* p : sched.allp)
    if (!p->runq.empty() || p->timers.first_when() != 0) return DeadCheck::kAlive;
  if (netpoll_waiters() > 0) return DeadCheck::kAlive;
  for (M* m : sched.allm)
    if (m->in_blocking_call()) return DeadCheck::kAlive;
  if (foreign_thread_exists()) return DeadCheck::kForeignThreads;
  return DeadCheck::kDead;
}

}  // namespace

DeadCheck checkdead() {
  internal::LockGuard l(sched.lock);
  const DeadCheck verdict = checkdead_locked();
  if (verdict == DeadCheck::kDead) {
    internal::Message m;
    m.put("all goroutines are asleep - deadlock!");
    internal::die(internal::DeathKind::kFatal, internal::Traceback::kAll, m);
  }
  return verdict;
}

}  // namespace gort::sched
