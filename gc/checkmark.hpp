// GODEBUG=gccheckmark=1 (Go's mcheckmark.go): at the end of every
// concurrent mark, with the world stopped, mark everything again from
// scratch into a second bitmap and die loudly if that finds a live object
// the concurrent mark left white.
//
// "Live" needs care with conservative stacks. A stack word below the stack
// pointer at the time of the goroutine's scan may later become part of a
// new frame without being written (an uninitialised slot), so a re-scan of
// stacks can reach objects that were garbage when marking began and that
// no correct program will ever use. Such an object is not an error, nor
// is anything reached only through it. What is an error is a white object
// reached exactly: from a root range (gc::root, a Select case, a timer's
// closure), a channel buffer, or a traced field of an object the
// concurrent mark marked - a black object pointing to a white one, the
// one thing the barriers exist to prevent.
#pragma once

namespace gort::gc {

// World stopped, marking finished, before the sweep begins.
void verify_marking();

}  // namespace gort::gc
