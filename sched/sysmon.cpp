// sysmon: the monitor thread that runs without a P (Go's sysmon in proc.go).
//
// It wakes every 20 us while it finds something to do, backing off to 10 ms
// when it does not, and sleeps outright while every P is idle. For now its
// job is the one the scheduler's wake-up policy leaves to it: a goroutine
// readied into a P's runnext by a goroutine that then kept running, while
// another P idles, gets an M to steal it. Retaking Ps from blocking calls,
// preemption and the forced GC cycle belong here too as they arrive.
#include <unistd.h>

#include "sched/sched.hpp"

namespace gort::sched {

namespace {

constexpr int64_t kMinDelayUs = 20;
constexpr int64_t kMaxDelayUs = 10000;
constexpr int kIdleRoundsBeforeBackoff = 50;

bool wake_for_stranded_work() {
  if (sched.npidle.load(std::memory_order_acquire) == 0 ||
      sched.nmspinning.load(std::memory_order_acquire) != 0)
    return false;
  for (P* p : sched.allp) {
    if (p->status.load(std::memory_order_acquire) == PStatus::kRunning && !p->runq.empty()) {
      wakep();
      return true;
    }
  }
  return false;
}

}  // namespace

void sysmon_main() {
  int64_t delay = kMinDelayUs;
  int idle = 0;
  while (!sched.shutdown.load(std::memory_order_acquire)) {
    if (idle == 0) delay = kMinDelayUs;
    else if (idle > kIdleRoundsBeforeBackoff && delay < kMaxDelayUs) delay *= 2;
    usleep(useconds_t(delay));

    if (sched.npidle.load(std::memory_order_acquire) == sched.gomaxprocs) {
      // Nothing runs, so nothing can go wrong: sleep until a P starts.
      sched.sysmon_wait.store(true);  // seq_cst: ordered before the npidle re-check
      if (sched.npidle.load(std::memory_order_acquire) == sched.gomaxprocs &&
          !sched.shutdown.load(std::memory_order_acquire))
        sched.sysmon_note.sleep();
      sched.sysmon_note.clear();
      sched.sysmon_wait.store(false, std::memory_order_release);
      idle = 0;
      continue;
    }
    idle = wake_for_stranded_work() ? 0 : idle + 1;
  }
}

}  // namespace gort::sched
