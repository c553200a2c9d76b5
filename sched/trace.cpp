// Recording the execution trace (Go 1.19's traceEvent, traceAcquireBuffer
// and the per-P trace buffers): sched/trace.hpp says who writes where.
#include "sched/trace.hpp"

#include <cstddef>
#include <cstring>

#include "runtime/internal/lock.hpp"
#include "runtime/internal/nanotime.hpp"
#include "runtime/internal/sysmem.hpp"
#include "sched/garena.hpp"
#include "sched/sched.hpp"
#include "sched/traceback.hpp"

namespace gort::sched::trace {

std::atomic<bool> enabled{false};

namespace {

// The buffer of everything recorded without a P.
internal::Lock global_lock;
Buf global_buf;
// What the Ps of a runtime that shut down while tracing had recorded.
Buf retired;

// Chunks mapped and committed ahead of need by sysmon (refill_spares): a
// P whose chunk fills takes one of these instead of having the kernel clear
// 256 KiB on its own time, which is most of what fresh memory costs. Only
// when they run out (sysmon fell behind) does the P map one itself.
internal::Lock spare_lock;
Chunk* spares = nullptr;
int nspares = 0;
// Enough for a few milliseconds of a switch-only benchmark, the fastest
// writer (some 25 million events a second); sysmon looks again every 20 us
// while it finds chunks to map.
constexpr int kSpares = 16;

Chunk* map_chunk() { return static_cast<Chunk*>(internal::map_memory_now(Chunk::kBytes, "the execution trace")); }

Chunk* new_chunk() {
  Chunk* c = nullptr;
  {
    internal::LockGuard l(spare_lock);
    if (spares) {
      c = spares;
      spares = c->next;
      --nspares;
    }
  }
  if (!c) c = map_chunk();
  c->next = nullptr;
  c->n = 0;
  return c;
}

// Unmaps every spare once recording stops. The flag is read under the lock
// on both sides, so a spare sysmon maps as recording stops is either taken
// here or unmapped by sysmon itself.
void drop_spares() {
  Chunk* list;
  {
    internal::LockGuard l(spare_lock);
    list = spares;
    spares = nullptr;
    nspares = 0;
  }
  while (list) {
    Chunk* next = list->next;
    internal::unmap_memory(list, Chunk::kBytes);
    list = next;
  }
}

// Moves every chunk of from to the end of to.
void splice(Buf& to, Buf& from) {
  if (!from.head) return;
  if (to.tail) to.tail->next = from.head;
  else to.head = from.head;
  to.tail = from.tail;
  from = Buf{};
}

// Static strings (wait reasons, why the world stopped, goroutine states)
// are kept as their distance from here: they live in the same image.
int64_t text_anchor() { return int64_t(reinterpret_cast<uintptr_t>(&enabled)); }

bool is_text(Ev kind) { return kind == Ev::kGoBlock || kind == Ev::kStwBegin || kind == Ev::kGoStatus; }

// An event in one slot of a chunk whose first event was at base, if it
// fits. The slot is composed in two registers and stored as two words, not
// six fields.
__attribute__((always_inline)) inline bool compact(Ev kind, uint8_t pid, uint16_t tid, int64_t ts, uint64_t a,
                                                   uint64_t b, int64_t base, Slot* s) {
  if (pid == kPidM || (a >> 32) != 0) return false;
  const int64_t dt = ts - base;
  if (dt != int32_t(dt)) return false;
  if (is_text(kind)) {
    const int64_t off = int64_t(b) - text_anchor();
    if (off != int32_t(off)) return false;
    b = uint32_t(off);
  } else if ((b >> 32) != 0) {
    return false;
  }
  const uint64_t words[2] = {
      uint64_t(uint32_t(dt)) | uint64_t(uint8_t(kind)) << 32 | uint64_t(pid) << 40 | uint64_t(tid) << 48,
      a | b << 32};
  static_assert(offsetof(Slot, kind) == 4 && offsetof(Slot, pid) == 5 && offsetof(Slot, tid) == 6 &&
                offsetof(Slot, a) == 8 && offsetof(Slot, b) == 12);
  std::memcpy(s, words, sizeof words);
  return true;
}

bool compact(const Event& e, int64_t base, Slot* s) { return compact(e.kind, e.pid, e.tid, e.ts, e.a, e.b, base, s); }

}  // namespace

__attribute__((always_inline)) inline void Buf::append(Ev kind, uint8_t pid, uint16_t tid, int64_t ts, uint32_t seq,
                                                      uint64_t a, uint64_t b) {
  // Room for two slots, so the event fits whichever it needs.
  if (tail && tail->n + 2 <= Chunk::kSlots) {
    if (compact(kind, pid, tid, ts, a, b, tail->base, &tail->slots[tail->n])) {
      ++tail->n;
      return;
    }
  }
  append_slowly(Event{ts, seq, kind, pid, tid, a, b});
}

void Buf::append_slowly(const Event& e) {
  if (!tail || tail->n + 2 > Chunk::kSlots) {
    Chunk* c = new_chunk();
    c->base = e.ts;
    if (tail) tail->next = c;
    else head = c;
    tail = c;
    if (compact(e, tail->base, &tail->slots[tail->n])) {
      ++tail->n;
      return;
    }
  }
  const uint64_t ts = uint64_t(e.ts);
  tail->slots[tail->n] = Slot{e.seq, uint8_t(uint8_t(e.kind) | kWide), e.pid, e.tid, uint32_t(ts), uint32_t(ts >> 32)};
  const uint64_t ab[2] = {e.a, e.b};
  std::memcpy(&tail->slots[tail->n + 1], ab, sizeof ab);
  tail->n += 2;
}

namespace {

__attribute__((always_inline)) inline Event event(Ev kind, Pid pid, uint32_t tid, uint64_t a, uint64_t b) {
  return Event{0, 0, kind, uint8_t(pid), uint16_t(tid), a, b};
}

// The hot path of every event is inlined whole (put_p, to_p, Buf::append,
// compact), and the Event taken apart before Buf::append (see there).

// Appends e, stamped already, to p's buffer; the caller holds p.
// locks_held keeps the stop signal away until the event is whole, and the
// flag is read again inside, where a stop of the world can no longer come
// between the read and the append. m_seq: the counter of e's track when
// that is an M's, kept by the M's own thread; the other tracks need none,
// as each lives in one buffer and its events' places there are their order.
__attribute__((always_inline)) inline void put_p(P* p, Event e, uint32_t* m_seq = nullptr) {
  internal::add_locks_held(1);
  if (on()) {
    if (m_seq) e.seq = (*m_seq)++;
    p->trace_buf.append(e.kind, e.pid, e.tid, e.ts, e.seq, e.a, e.b);
  }
  internal::add_locks_held(-1);
}

// Stamps e with a fresh reading of the clock, which also becomes p's
// latest (see go_unblock).
__attribute__((always_inline)) inline void to_p(P* p, Event e, uint32_t* m_seq = nullptr) {
  e.ts = p->trace_ticks = internal::cputicks();
  put_p(p, e, m_seq);
}

// Appends to the global buffer (any thread, P or none). m_seq as in put_p.
void to_global(Event e, uint32_t* m_seq = nullptr) {
  internal::LockGuard l(global_lock);
  if (!on()) return;
  e.ts = internal::cputicks();
  if (m_seq) e.seq = (*m_seq)++;
  global_buf.append(e.kind, e.pid, e.tid, e.ts, e.seq, e.a, e.b);
}

// An event of whoever runs this: its P's track, else its M's, else the
// outside track.
void here(Ev kind, uint64_t a, uint64_t b) {
  M* m = current_m();
  if (m && m->p && !m->in_blocking_call()) {
    P* p = m->p;
    to_p(p, event(kind, kPidP, uint32_t(p->id), a, b));
  } else if (m) {
    to_global(event(kind, kPidM, uint32_t(m->id), a, b), &m->trace_seq);
  } else {
    to_global(event(kind, kPidOutside, 0, a, b));
  }
}

}  // namespace

std::vector<Event> decode(const Chunk* list) {
  std::vector<Event> out;
  uint32_t place = 0;
  for (const Chunk* c = list; c; c = c->next) {
    for (uint32_t i = 0; i < c->n; ++place) {
      const Slot& s = c->slots[i];
      Event e{0, place, Ev(s.kind & ~kWide), s.pid, s.tid, s.a, s.b};
      if (s.kind & kWide) {
        e.ts = int64_t(uint64_t(s.a) | uint64_t(s.b) << 32);
        if (e.pid == kPidM) e.seq = s.dt;
        uint64_t ab[2];
        std::memcpy(ab, &c->slots[i + 1], sizeof ab);
        e.a = ab[0];
        e.b = ab[1];
        i += 2;
      } else {
        e.ts = c->base + int32_t(s.dt);
        if (is_text(e.kind)) e.b = uint64_t(text_anchor() + int32_t(s.b));
        i += 1;
      }
      out.push_back(e);
    }
  }
  return out;
}

void go_create(M* m, G* g) {
  const uint64_t parent = (m && m->curg ? m->curg->id : 0) | (g->is_system ? kRuntimeGoroutine : 0);
  if (m && m->p) to_p(m->p, event(Ev::kGoCreate, kPidP, uint32_t(m->p->id), g->id, parent));
  else here(Ev::kGoCreate, g->id, parent);
}

namespace {

__attribute__((always_inline)) inline Event start_event(P* p, G* g) {
  const bool unblocked = g->trace_unblocked;
  g->trace_unblocked = false;
  return event(Ev::kGoStart, kPidP, uint32_t(p->id), g->id, unblocked);
}

__attribute__((always_inline)) inline Event stop_event(P* p, G* g, Ev why) {
  const uint64_t reason = why == Ev::kGoBlock ? reinterpret_cast<uintptr_t>(g->wait_reason) : 0;
  return event(why, kPidP, uint32_t(p->id), g->id, reason);
}

}  // namespace

void go_start(P* p, G* g) { to_p(p, start_event(p, g)); }

void go_stop(P* p, G* g, Ev why) { to_p(p, stop_event(p, g, why)); }

void go_switch(P* p, G* g, Ev why, G* next) {
  Event stop = stop_event(p, g, why);
  Event start = start_event(p, next);
  stop.ts = start.ts = p->trace_ticks = internal::cputicks();
  put_p(p, stop);
  put_p(p, start);
}

void go_unblock(M* m, G* g) {
  g->trace_unblocked = true;
  const uint64_t by = m && m->curg ? m->curg->id : 0;
  if (m && m->p) {
    // No clock reading of its own: the P's latest, taken when the running
    // goroutine started (or by an event since). The unblock shows at or
    // before the moment it happened, never after, and its sequence number
    // keeps it behind that reading's events on the P's track; the wake-up
    // arrow never points back in time.
    P* p = m->p;
    Event e = event(Ev::kGoUnblock, kPidP, uint32_t(p->id), g->id, by);
    e.ts = p->trace_ticks;
    put_p(p, e);
  } else {
    here(Ev::kGoUnblock, g->id, by);
  }
}

void go_steal(P* p, G* g, P* victim) {
  to_p(p, event(Ev::kSteal, kPidP, uint32_t(p->id), g->id, uint64_t(victim->id)));
}

void proc_start(M* m, P* p) {
  to_p(p, event(Ev::kMProcBegin, kPidM, uint32_t(m->id), uint64_t(p->id), 0), &m->trace_seq);
  to_p(p, event(Ev::kProcStart, kPidP, uint32_t(p->id), uint64_t(m->id), 0));
}

void proc_stop(M* m, P* p) {
  to_p(p, event(Ev::kProcStop, kPidP, uint32_t(p->id), uint64_t(m->id), 0));
  to_p(p, event(Ev::kMProcEnd, kPidM, uint32_t(m->id), uint64_t(p->id), 0), &m->trace_seq);
}

void syscall_enter(M* m, P* p, G* g) {
  to_p(p, event(Ev::kGoSysCall, kPidP, uint32_t(p->id), g->id, 0));
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

void proc_steal(P* p) { to_global(event(Ev::kProcSteal, kPidOutside, 0, uint64_t(p->id), 0)); }

void gc_event(Ev kind, uint64_t a, uint64_t b) { to_global(event(kind, kPidGc, 0, a, b)); }

namespace {
int64_t start_ns = 0;
int64_t start_ticks = 0;
Clock last_clock;
}  // namespace

Clock clock() { return last_clock; }

void begin(P* stopper_p, G* stopper_g) {
  start_ns = internal::nanotime();
  start_ticks = internal::cputicks();
  for (P* p : sched.allp) p->trace_ticks = start_ticks;
  enabled.store(true, std::memory_order_release);
  // Go's GoStatus events at StartTrace: the goroutines that exist already.
  const GArena& arena = GArena::get();
  for (size_t i = 0, n = arena.count(); i < n; ++i) {
    const G* g = arena.at(i);
    if (const char* state = goroutine_state(g))
      to_global(event(Ev::kGoStatus, kPidOutside, 0, g->id, reinterpret_cast<uintptr_t>(state)));
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
  drop_spares();
  return all.head;
}

bool refill_spares() {
  bool mapped = false;
  for (;;) {
    {
      internal::LockGuard l(spare_lock);
      if (!on() || nspares >= kSpares) return mapped;
    }
    Chunk* c = map_chunk();
    mapped = true;
    internal::LockGuard l(spare_lock);
    if (!on()) {
      internal::unmap_memory(c, Chunk::kBytes);
      return mapped;
    }
    c->next = spares;
    spares = c;
    ++nspares;
  }
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
