// What gort::run starts the runtime with: the Config a program passes,
// over the environment's knobs (runtime/internal/config.hpp), over the
// machine's defaults.
#pragma once

#include <cstddef>

#include "gort/runtime.hpp"

namespace gort::runtime {

struct Settings {
  int gomaxprocs = 1;
  size_t max_stack = 0;  // 0: keep the stack slot size as it is
};

// Config fields win over the environment; a Config field out of range is
// std::invalid_argument (a malformed environment knob is a fatal error).
Settings resolve(const Config& cfg);

}  // namespace gort::runtime
