// Cond over a ticketed notify list (Go's runtime/sema.go notifyList*).
#include "gort/cond.hpp"

#include "sched/sema.hpp"

namespace gort {

void Cond::wait() {
  // Taking the ticket before the unlock is what makes "unlock and wait"
  // atomic: a signal sent in between serves it, and the wait then does not
  // park at all.
  const uint32_t ticket = sched::notify_list_add(&wait_ticket_);
  m_.unlock();
  sched::notify_list_wait(&wait_ticket_, &notify_ticket_, ticket);
  m_.lock();
}

void Cond::signal() { sched::notify_list_notify_one(&wait_ticket_, &notify_ticket_); }

void Cond::broadcast() { sched::notify_list_notify_all(&wait_ticket_, &notify_ticket_); }

}  // namespace gort
