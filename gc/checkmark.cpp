#include "gc/checkmark.hpp"

#include "gc/marker.hpp"
#include "gc/mheap.hpp"
#include "gc/roots.hpp"
#include "runtime/internal/fatal.hpp"
#include "sched/sched.hpp"
#include "sched/stw.hpp"

namespace gort::gc {

namespace {

void report_white(uintptr_t object, uintptr_t source) {
  const Span* s = Heap::get().span_of(object);
  if (source)
    internal::throw_error("gccheckmark: a reachable object was left unmarked: the ", s->elemsize,
                          "-byte slot at address ", object, ", referenced by the marked object at address ", source);
  internal::throw_error("gccheckmark: a reachable object was left unmarked: the ", s->elemsize,
                        "-byte slot at address ", object, ", referenced from a root range or channel buffer");
}

}  // namespace

void verify_marking() {
  sched::assert_world_stopped();
  for (Span* s : Heap::get().in_use_spans()) s->clear_check_bits();
  Marker m(sched::current_m()->p->node);
  m.enter_check_mode(report_white);
  mark_all_roots_stopped(m);
  m.drain(-1);
}

}  // namespace gort::gc
