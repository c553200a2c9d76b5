// Switching between goroutines and the scheduler (switch.cpp), as the rest
// of sched/ uses it. park, yield and ready are in sched.hpp.
#pragma once

#include "sched/g.hpp"
#include "sched/m.hpp"

namespace gort::sched {

// A switch runs from the moment the jumper changes m->curg until the lander
// has saved the previous context and finished its switch. In between, curg
// and the saved contexts disagree about which stack is live, so the thread
// must not be stopped by signal for a stack scan: the jumper counts the
// switch as a held lock (internal::locks_held) and the lander releases it.
void begin_switch();
void end_switch();

// Switches the running goroutine g out for `why` (to g0, or straight to
// the next goroutine of this P); returns when g is resumed.
void switch_out(G* g, SwitchReason why);

// From g0: runs g on m until a goroutine switches back to g0, then finishes
// that one's switch.
void execute(M* m, G* g);

}  // namespace gort::sched
