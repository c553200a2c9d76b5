// Go's run-time panics, as a C++ exception.
//
// Misusing a channel (send on or close of a closed channel, close of a nil
// channel), unlocking an unlocked Mutex or a negative WaitGroup counter
// throws panic_error with Go's message. Caught, it is Go's recover; uncaught
// in a goroutine it ends the process as an unrecovered panic does:
//   panic: send on closed channel
//
//   goroutine 7 [running]
// and exit status 2.
#pragma once

#include "gort/detail/panic.hpp"
