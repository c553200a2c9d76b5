// Goroutine semaphores and notify lists (Go's runtime/sema.go): what
// sync.Mutex, RWMutex, WaitGroup and Cond park on.
//
// A semaphore is just a 32-bit count inside the user's object; waiters do
// not live there but in a table of 251 roots keyed by the count's address,
// each root a lock and a list of the addresses waited on, each address a
// FIFO of sudogs (Go keeps a treap per root; a list serves while few
// distinct addresses wait in one root). So a gort::Mutex is two words, as
// Go's is, and no public header names a runtime type.
//
// Lifetime, which Go's collector gives it and C++ does not: semrelease
// touches the object once, adding to the count, before it wakes anyone;
// after that it only compares addresses. Whoever acquired may free the
// object as soon as acquire returns.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::sched {

// Parks until *addr > 0, then decrements it. lifo puts this waiter first
// in line (a Mutex waiter that was woken and lost the race).
void semacquire(std::atomic<uint32_t>* addr, bool lifo, const char* reason);
// Adds n to *addr and wakes up to n waiters. handoff (n == 1): the count
// goes straight to the waiter, which then runs on this P at once (a
// starving Mutex).
void semrelease(std::atomic<uint32_t>* addr, uint32_t n, bool handoff);

// sync.Cond's notify list: *wait hands out tickets, *notify counts the
// tickets served; waiters park in the semaphore table under `wait`'s address.
uint32_t notify_list_add(std::atomic<uint32_t>* wait);
void notify_list_wait(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify, uint32_t ticket);
void notify_list_notify_one(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify);
void notify_list_notify_all(std::atomic<uint32_t>* wait, std::atomic<uint32_t>* notify);

}  // namespace gort::sched
