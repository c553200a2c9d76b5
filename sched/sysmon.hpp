// Registration point for the collector's periodic forced cycle (Go's
// forcegchelper): sysmon calls hook from its own thread once every period
// in which no cycle was forced. The hook must only wake whoever runs the
// collection, never do the work itself.
#pragma once

#include <cstdint>

namespace gort::sched {

void set_forcegc_hook(void (*hook)(), int64_t period_ns);

}  // namespace gort::sched
