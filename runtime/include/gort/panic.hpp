// Go's run-time panics, as a C++ exception.
//
// Misusing a channel (send on or close of a closed channel, close of a nil
// channel), a negative WaitGroup counter or a non-positive Ticker period
// throws panic_error with Go's message. Caught, it is Go's recover; uncaught
// in a goroutine it ends the process as an unrecovered panic does:
//   panic: send on closed channel
//
//   goroutine 7 [running]:
// and exit status 2. Unlocking an unlocked Mutex or RWMutex is not a panic
// but, as in Go, a fatal error that cannot be recovered:
//   fatal error: sync: unlock of unlocked mutex
#pragma once

#include "gort/detail/panic.hpp"
