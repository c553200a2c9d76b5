// Recording the execution trace (Go 1.19's traceEvent, traceAcquireBuffer
// and the per-P trace buffers): sched/trace.hpp says who writes where.
#include "sched/trace.hpp"

#include "runtime/internal/lock.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/sysmem.hpp"
#include "sched/garena.hpp"
#include "sched/sched.hpp"

namespace gort::sched::trace {

std::atomic<bool> enabled{false};

namespace {

// The buffer of everything recorded without a P, and the sequence numbers
// of the tracks that only it holds.
internal::Lock global_lock;
Buf global_buf;
uint32_t gc_seq = 0;
uint32_t outside_seq = 0;
// What the Ps of a runtime that shut down while tracing had recorded.
Buf retired;

Chunk* new_chunk() {
  auto* c = static_cast<Chunk*>(internal::map_memory_now(Chunk::kBytes, "the execution trace"));
  c->next = nullptr;
  c->n = 0;
  return c;
}

// Moves every chunk of from to the end of to.
void splice(Buf& to, Buf& from) {
  if (!from.head) return;
  if (to.tail) to.tail->next = from.head;
  else to.head = from.head;
  to.tail = from.tail;
  from = Buf{};
}

Event event(Ev kind, Pid pid, uint32_t tid, uint64_t a, uint64_t b) {
  return Event{0, 0, kind, uint8_t(pid), uint16_t(tid), a, b};
}

// Appends e, stamped already, to p's buffer; the caller holds p.
// locks_held keeps the stop signal away until the event is whole, and the
// flag is read again inside, where a stop of the world can no longer come
// between the read and the append. seq: the counter of e's track.
void put_p(P* p, Event e, uint32_t* seq) {
  internal::add_locks_held(1);
  if (on()) {
    e.seq = (*seq)++;
    p->trace_buf.append(e);
  }
  internal::add_locks_held(-1);
}

void to_p(P* p, Event e, uint32_t* seq) {
  e.ts = internal::cputicks();
  put_p(p, e, seq);
}

// Appends to the global buffer (any thread, P or none). seq as in to_p;
// the counters of the collector's and the outside track are read under the
// lock, an M's by its own thread only.
void to_global(Event e, uint32_t* seq) {
  internal::LockGuard l(global_lock);
  if (!on()) return;
  e.ts = internal::cputicks();
  e.seq = (*seq)++;
  global_buf.append(e);
}

// An event of whoever runs this: its P's track, else its M's, else the
// outside track.
void here(Ev kind, uint64_t a, uint64_t b) {
  M* m = current_m();
  if (m && m->p && !m->in_blocking_call()) {
    P* p = m->p;
    to_p(p, event(kind, kPidP, uint32_t(p->id), a, b), &p->trace_seq);
  } else if (m) {
    to_global(event(kind, kPidM, uint32_t(m->id), a, b), &m->trace_seq);
  } else {
    to_global(event(kind, kPidOutside, 0, a, b), &outside_seq);
  }
}

}  // namespace

void Buf::append(const Event& e) {
  if (!tail || tail->n == Chunk::kEvents) {
    Chunk* c = new_chunk();
    if (tail) tail->next = c;
    else head = c;
    tail = c;
  }
  tail->events[tail->n++] = e;
}

void go_create(M* m, G* g) {
  const uint64_t parent = m && m->curg ? m->curg->id : 0;
  if (m && m->p) to_p(m->p, event(Ev::kGoCreate, kPidP, uint32_t(m->p->id), g->id, parent), &m->p->trace_seq);
  else here(Ev::kGoCreate, g->id, parent);
}

namespace {

Event start_event(P* p, G* g) {
  const bool unblocked = g->trace_unblocked;
  g->trace_unblocked = false;
  return event(Ev::kGoStart, kPidP, uint32_t(p->id), g->id, unblocked);
}

Event stop_event(P* p, G* g, Ev why) {
  const uint64_t reason = why == Ev::kGoBlock ? reinterpret_cast<uintptr_t>(g->wait_reason) : 0;
  return event(why, kPidP, uint32_t(p->id), g->id, reason);
}

}  // namespace

void go_start(P* p, G* g) { to_p(p, start_event(p, g), &p->trace_seq); }

void go_stop(P* p, G* g, Ev why) { to_p(p, stop_event(p, g, why), &p->trace_seq); }

void go_switch(P* p, G* g, Ev why, G* next) {
  Event stop = stop_event(p, g, why);
  Event start = start_event(p, next);
  stop.ts = start.ts = internal::cputicks();
  put_p(p, stop, &p->trace_seq);
  put_p(p, start, &p->trace_seq);
}

void go_unblock(M* m, G* g) {
  g->trace_unblocked = true;
  const uint64_t by = m && m->curg ? m->curg->id : 0;
  if (m && m->p) to_p(m->p, event(Ev::kGoUnblock, kPidP, uint32_t(m->p->id), g->id, by), &m->p->trace_seq);
  else here(Ev::kGoUnblock, g->id, by);
}

void go_steal(P* p, G* g, P* victim) {
  to_p(p, event(Ev::kSteal, kPidP, uint32_t(p->id), g->id, uint64_t(victim->id)), &p->trace_seq);
}

void proc_start(M* m, P* p) {
  to_p(p, event(Ev::kMProcBegin, kPidM, uint32_t(m->id), uint64_t(p->id), 0), &m->trace_seq);
  to_p(p, event(Ev::kProcStart, kPidP, uint32_t(p->id), uint64_t(m->id), 0), &p->trace_seq);
}

void proc_stop(M* m, P* p) {
  to_p(p, event(Ev::kProcStop, kPidP, uint32_t(p->id), uint64_t(m->id), 0), &p->trace_seq);
  to_p(p, event(Ev::kMProcEnd, kPidM, uint32_t(m->id), uint64_t(p->id), 0), &m->trace_seq);
}

void syscall_enter(M* m, P* p, G* g) {
  to_p(p, event(Ev::kGoSysCall, kPidP, uint32_t(p->id), g->id, 0), &p->trace_seq);
  to_p(p, event(Ev::kMSysBegin, kPidM, uint32_t(m->id), g->id, 0), &m->trace_seq);
}

void syscall_exit(M* m, G* g, P* p, bool kept_p) {
  if (kept_p) {
    to_p(p, event(Ev::kMSysEnd, kPidM, uint32_t(m->id), g->id, 1), &m->trace_seq);
    go_start(p, g);
    return;
  }
  to_global(event(Ev::kMSysEnd, kPidM, uint32_t(m->id), g->id, 0), &m->trace_seq);
  to_global(event(Ev::kMProcEnd, kPidM, uint32_t(m->id), uint64_t(p->id), 0), &m->trace_seq);
}

void m_idle(M* m, bool begin) {
  to_global(event(begin ? Ev::kMIdleBegin : Ev::kMIdleEnd, kPidM, uint32_t(m->id), 0, 0), &m->trace_seq);
}

void proc_steal(P* p) { to_global(event(Ev::kProcSteal, kPidOutside, 0, uint64_t(p->id), 0), &outside_seq); }

void gc_event(Ev kind, uint64_t a, uint64_t b) { to_global(event(kind, kPidGc, 0, a, b), &gc_seq); }

namespace {
int64_t start_ns = 0;
int64_t start_ticks = 0;
Clock last_clock;
}  // namespace

Clock clock() { return last_clock; }

void begin(P* stopper_p, G* stopper_g) {
  start_ns = internal::nanotime();
  start_ticks = internal::cputicks();
  enabled.store(true, std::memory_order_release);
  // Go's GoStatus events at StartTrace: the goroutines that exist already.
  const GArena& arena = GArena::get();
  for (size_t i = 0, n = arena.count(); i < n; ++i) {
    const G* g = arena.at(i);
    if (const char* state = goroutine_state(g))
      to_global(event(Ev::kGoStatus, kPidOutside, 0, g->id, reinterpret_cast<uintptr_t>(state)), &outside_seq);
  }
  // What runs at this moment: the stopper, and the goroutines stopped by
  // signal, which go on where they stand once the world restarts.
  if (stopper_p) {
    M* m = current_m();
    to_p(stopper_p, event(Ev::kMProcBegin, kPidM, uint32_t(m->id), uint64_t(stopper_p->id), 0), &m->trace_seq);
    go_start(stopper_p, stopper_g);
  }
  for (P* p : sched.allp) {
    if (!p->stopped_in_signal.load(std::memory_order_acquire)) continue;
    M* m = p->m.load(std::memory_order_relaxed);
    to_p(p, event(Ev::kMProcBegin, kPidM, uint32_t(m->id), uint64_t(p->id), 0), &m->trace_seq);
    if (G* g = p->running.load(std::memory_order_acquire)) go_start(p, g);
  }
}

Chunk* end() {
  enabled.store(false, std::memory_order_release);
  const int64_t ns = internal::nanotime() - start_ns;
  const int64_t ticks = internal::cputicks() - start_ticks;
  last_clock = Clock{start_ticks, ns > 0 && ticks > 0 ? double(ns) / double(ticks) : 1.0};
  Buf all;
  for (P* p : sched.allp) splice(all, p->trace_buf);
  internal::LockGuard l(global_lock);
  splice(all, retired);
  splice(all, global_buf);
  return all.head;
}

void free_chunks(Chunk* list) {
  while (list) {
    Chunk* next = list->next;
    internal::unmap_memory(list, Chunk::kBytes);
    list = next;
  }
}

void retire_p(P* p) {
  internal::LockGuard l(global_lock);
  splice(retired, p->trace_buf);
}

}  // namespace gort::sched::trace
