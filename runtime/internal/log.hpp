// gort's own log: one spdlog logger writing to stderr, so program output on
// stdout (benchmark figures, for instance) stays clean. Quiet by default, as
// a Go program is: it shows warnings and errors only, unless GORTLOG asks
// for more (debug: what the runtime decided at start, such as the stack
// guard probe; info: facts about this machine worth knowing, such as a
// fallback taken). Fatal errors do not go through it (fatal.hpp).
#pragma once

#include <spdlog/spdlog.h>

namespace gort::internal {

spdlog::logger& log();

}  // namespace gort::internal
