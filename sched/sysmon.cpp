// sysmon: the monitor thread that runs without a P (Go's sysmon in proc.go).
//
// It wakes every 20 us while it finds something to do, backing off to 10 ms
// when it does not, and sleeps outright while every P is idle. Each round:
//  - retake: a P whose M has been inside gort::blocking for a whole round
//    goes to another M (at once if it has work; otherwise only after 10 ms
//    or if no other P is free to run new work), Go's retake;
//  - preempt: a goroutine that has held its P for 10 ms is asked to yield
//    at its next safe point;
//  - stranded work: a running P with queued goroutines while another P
//    idles and nobody spins gets an M to steal them (the wake-up that
//    ready() skipped for a channel hand-off, see sched/README.md);
//  - netpoll: if nobody has polled the network for 10 ms, poll it;
//  - deadlock: while every P is idle, Go's checkdead;
//  - periodic collection: when no cycle ended for two minutes, ready the
//    collector's helper that starts one (Hooks::periodic_gc, Go's forcegc),
//    and while every P idles, sleep no longer than until it is due;
//  - SIGQUIT: once one has arrived, start the goroutine that dumps every
//    goroutine and exits (sched/sigquit.hpp).
#include <unistd.h>

#include <algorithm>

#include "runtime/internal/nanotime.hpp"
#include "sched/hooks.hpp"
#include "sched/netpoll.hpp"
#include "sched/sched.hpp"
#include "sched/sigquit.hpp"
#include "sched/trace.hpp"

namespace gort::sched {

namespace {

constexpr int64_t kMinDelayUs = 20;
constexpr int64_t kMaxDelayUs = 10000;
constexpr int kIdleRoundsBeforeBackoff = 50;
constexpr int64_t kTimeSliceNs = 10000000;  // Go's forcePreemptNS
constexpr int64_t kPollIntervalNs = 10000000;
constexpr int64_t kForeignRecheckNs = 100000000;

bool retake(int64_t now) {
  bool acted = false;
  for (P* p : sched.allp) {
    const PStatus status = p->status.load(std::memory_order_acquire);
    if (status == PStatus::kSyscall) {
      const uint32_t tick = p->syscalltick.load(std::memory_order_relaxed);
      if (p->sysmon_syscalltick != tick) {  // a new call since last round
        p->sysmon_syscalltick = tick;
        p->sysmon_syscallwhen = now;
        continue;
      }
      // Nothing would run on it and others are free: let it be a while.
      if (p->runq.empty() && sched.runqsize.load(std::memory_order_relaxed) == 0 &&
          sched.nmspinning.load() + sched.npidle.load() > 0 && now - p->sysmon_syscallwhen < kTimeSliceNs)
        continue;
      PStatus expected = PStatus::kSyscall;
      if (p->status.compare_exchange_strong(expected, PStatus::kIdle, std::memory_order_acq_rel)) {
        if (trace::on()) trace::proc_steal(p);
        handoffp(p);
        acted = true;
      }
    } else if (status == PStatus::kRunning) {
      const uint32_t tick = p->schedtick.load(std::memory_order_relaxed);
      if (p->sysmon_schedtick != tick) {
        p->sysmon_schedtick = tick;
        p->sysmon_schedwhen = now;
      } else if (now - p->sysmon_schedwhen >= kTimeSliceNs) {
        if (G* g = p->running.load(std::memory_order_acquire)) request_preempt(g);
        p->sysmon_schedwhen = now;  // ask again only after another slice
        acted = true;
      }
    }
  }
  return acted;
}

bool wake_for_stranded_work() {
  if (sched.npidle.load(std::memory_order_acquire) == 0 || sched.nmspinning.load(std::memory_order_acquire) != 0)
    return false;
  for (P* p : sched.allp) {
    if (p->status.load(std::memory_order_acquire) == PStatus::kRunning && !p->runq.empty()) {
      wakep();
      return true;
    }
  }
  return false;
}

bool poll_network(int64_t now) {
  const int64_t last = sched.lastpoll.load(std::memory_order_acquire);
  if (netpoll_waiters() == 0 || last == 0 || now - last < kPollIntervalNs) return false;
  int64_t expected = last;
  if (!sched.lastpoll.compare_exchange_strong(expected, now)) return false;
  GList list = netpoll(0);
  if (list.empty()) return false;
  const int32_t readied = list.size;
  inject(list);
  netpoll_handed_over(readied);
  return true;
}

}  // namespace

void sysmon_main() {
  sched.sysmon_tid.store(gettid(), std::memory_order_release);
  unblock_quit_signal();
  int64_t delay = kMinDelayUs;
  int idle = 0;
  while (!sched.shutdown.load(std::memory_order_acquire)) {
    if (idle == 0) delay = kMinDelayUs;
    else if (idle > kIdleRoundsBeforeBackoff && delay < kMaxDelayUs) delay *= 2;
    usleep(useconds_t(delay));
    quit_if_signalled();
    const int64_t now = internal::nanotime();
    const int64_t gc_due_in = hooks().periodic_gc ? hooks().periodic_gc(now) : 0;

    if (sched.npidle.load(std::memory_order_acquire) == sched.gomaxprocs && netpoll_waiters() == 0) {
      // Nothing runs and nothing waits on the network: sleep until a P
      // starts. If only a thread outside the runtime could still wake a
      // goroutine, look again now and then: when it is gone, so is the
      // last hope (checkdead ends the process).
      const bool foreign = checkdead() == DeadCheck::kForeignThreads;
      sched.sysmon_wait.store(true);  // seq_cst: ordered before the npidle re-check
      if (sched.npidle.load(std::memory_order_acquire) == sched.gomaxprocs &&
          !sched.shutdown.load(std::memory_order_acquire)) {
        if (foreign) sched.sysmon_note.sleep_for(gc_due_in > 0 ? std::min(gc_due_in, kForeignRecheckNs) : kForeignRecheckNs);
        else if (gc_due_in > 0) sched.sysmon_note.sleep_for(gc_due_in);
        else sched.sysmon_note.sleep();
      }
      sched.sysmon_note.clear();
      sched.sysmon_wait.store(false, std::memory_order_release);
      idle = 0;
      continue;
    }
    bool acted = retake(now);
    acted = wake_for_stranded_work() || acted;
    acted = poll_network(now) || acted;
    if (trace::on()) acted = trace::refill_spares() || acted;
    idle = acted ? 0 : idle + 1;
  }
}

}  // namespace gort::sched
