// Go's unrecovered panic, for C++: an exception that escapes a goroutine
// other than main ends the process with `panic: <what>`, the goroutine and
// its stack as it stood at the throw, and status 2.
//
// The stack at the throw survives because nothing catches the exception:
// C++ unwinds a stack only once it has found a handler, and finding none
// (the search ends at the goroutine's first frame) calls std::terminate
// right on top of the throwing frames. The runtime's terminate handler
// reports it from there. The main goroutine's exception is caught instead
// and rethrown by gort::run.
#pragma once

namespace gort::sched {

// Installs the terminate handler, once; it passes anything that is not a
// goroutine's exception on to the handler it replaced.
void install_panic_handler();

}  // namespace gort::sched
