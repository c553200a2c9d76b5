// SIGQUIT, as in Go: `kill -QUIT` prints every goroutine's stack and ends
// the process with status 2.
//
// Go dumps from inside its signal handler. gort's handler only notes the
// signal and wakes sysmon: a dump stops the world, allocates and starts
// addr2line, none of which a signal handler may do. sysmon, which runs
// without a P and never blocks, then starts a goroutine that dumps and
// exits; a goroutine is what stop_the_world needs.
#pragma once

#include <signal.h>

namespace gort::sched {

void install_quit_signal();

// The signal goes to sysmon: every other thread of the runtime blocks it,
// the thread in gort::run while this lives, and the threads it starts
// (sysmon unblocks it for itself). A handler on a thread asleep on a futex
// would do as well, but ThreadSanitizer defers a handler until its thread
// next enters TSan's runtime, which such a thread never does.
class QuitSignalBlocked {
 public:
  QuitSignalBlocked();
  ~QuitSignalBlocked();
  QuitSignalBlocked(const QuitSignalBlocked&) = delete;
  QuitSignalBlocked& operator=(const QuitSignalBlocked&) = delete;

 private:
  sigset_t old_;
};
void unblock_quit_signal();

// Called by sysmon every round: starts the dumping goroutine once a
// SIGQUIT has arrived.
void quit_if_signalled();

// A SIGQUIT has arrived: the process is about to end with status 2. main
// returning meanwhile must not end it first, with status 0.
bool quit_pending();

}  // namespace gort::sched
