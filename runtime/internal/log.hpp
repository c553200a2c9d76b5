// gort's own log: one spdlog logger writing to stderr, so program output on
// stdout (benchmark figures, for instance) stays clean.
#pragma once

#include <spdlog/spdlog.h>

namespace gort::internal {

spdlog::logger& log();

}  // namespace gort::internal
