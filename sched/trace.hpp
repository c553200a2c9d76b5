// The execution tracer's recording side (Go 1.19's runtime/trace.go): what
// the scheduler and the collector did, as 16- or 32-byte events in per-P
// buffers. runtime/trace.cpp turns the recorded events into a file.
//
// Who writes where:
//  - an M holding a P (running goroutines, or on g0 with the P) appends to
//    the P's buffer without a lock: only the holder of a P writes to it, and
//    a P changes hands with a release/acquire (acquirep, the compare-and-
//    swap that takes a P out of a blocking call), so the P's buffer is a
//    sequence of appends by one owner after another;
//  - anything else - an M without a P (idle, back from a blocking call),
//    sysmon, the M factory, a thread outside the runtime, the collector's
//    track - appends to the global buffer under its lock, as Go 1.19's
//    traceAcquireBuffer does.
// Every event names its track (a P, an M, the collector, the rest). A P's,
// the collector's and the outside track each live in one buffer, in the
// order their events happened; an M's spans its Ps' buffers and the global
// one, so its events carry the M's own sequence number, which puts the
// track back in order.
//
// A buffer is a list of 256 KiB chunks, mapped and committed at once
// (never malloc: events are recorded in a stopped world; and a page fault
// every 256 events would cost more than recording them), most of them ahead
// of need by sysmon, and kept until tracing stops. Nothing bounds them but
// the trace's length: 16 bytes an event on the hot paths (Slot below). Go
// keeps its buffers until a reader goroutine drains them; gort has no
// reader, the file is written at the end.
//
// Events are stamped with the CPU's cycle counter (cputicks, as Go's
// tracer does), a few times cheaper than nanotime; still, with a goroutine
// switch costing some 60 ns, one reading is a good part of what tracing
// costs, so a switch reads it once for both its events and an unblock takes
// its P's latest reading (go_unblock). begin and end read both clocks, and
// the writer converts.
//
// The hot path, tracing off: trace::on(), one relaxed load of a global flag.
// Tracing on, an event bumps locks_held around its append, so the stop
// signal never stops a thread halfway through one: stop_the_world then
// leaves no P buffer half-written, and start/stop swap the buffers inside a
// stopped world (Go's StartTrace/StopTrace do the same).
#pragma once

#include <atomic>
#include <cstdint>
#include <vector>

namespace gort::sched {

struct G;
struct M;
struct P;

namespace trace {

// What an event is (the names follow Go 1.19's traceEv* constants).
enum class Ev : uint8_t {
  // On a P's track (a = goroutine id unless said otherwise).
  kGoCreate,   // b = the creating goroutine's id (0: none), | kRuntimeGoroutine for the runtime's own
  kGoStart,    // b = 1 when readied by a traced GoUnblock (a flow arrow)
  kGoBlock,    // b = the wait reason (a static string)
  kGoSched,    // yielded
  kGoPreempt,  // asked to yield by sysmon or a stop of the world
  kGoEnd,      // returned
  kGoSysCall,  // entered gort::blocking: leaves the P's track
  kGoUnblock,  // readied by goroutine b (0: by g0 or a plain thread)
  kSteal,      // b = the victim P's id
  kProcStart,  // a = the M's id
  kProcStop,
  // On an M's track.
  kMProcBegin,  // a = the P's id it now holds
  kMProcEnd,    // a = the P's id it gave up
  kMSysBegin,   // in gort::blocking
  kMSysEnd,     // b = 1 when it kept its P
  kMIdleBegin,  // asleep in stopm
  kMIdleEnd,
  // On the collector's track.
  kGcBegin,  // a = the cycle's number
  kGcEnd,
  kStwBegin,    // b = why (a static string)
  kStwStopped,  // a = ns it took to stop, b = threads stopped by signal
  kStwEnd,
  kMarkBegin,
  kMarkEnd,
  kSwept,  // a sweep pass ended: a = spans swept, b = objects freed
  kHeap,      // a = heap bytes allocated, b = heap goal
  // On the outside track.
  kGoStatus,   // a goroutine alive when tracing started; b = its state
  kProcSteal,  // sysmon took P a from a long blocking call
};

// In kGoCreate's b: the goroutine is one of the runtime's (a sweeper, a
// mark worker), which Perfetto then shows by another name.
inline constexpr uint64_t kRuntimeGoroutine = uint64_t(1) << 63;

// Tracks: Chrome's trace-event pid and tid.
enum Pid : uint8_t { kPidP = 1, kPidM = 2, kPidGc = 3, kPidOutside = 4 };

// An event as the hooks make it and the writer reads it.
struct Event {
  int64_t ts;    // cputicks()
  uint32_t seq;  // order within the track
  Ev kind;
  uint8_t pid;
  uint16_t tid;
  uint64_t a;
  uint64_t b;
};

// An event as a chunk keeps it: one 16-byte slot when it can, two when it
// cannot. One slot holds an event of a P's, the collector's or the outside
// track whose numbers fit 32 bits (goroutine ids do, and so does a static
// string as its distance from the runtime's own image) and whose time lies
// within 2^31 ticks of the chunk's first event: its time is that distance,
// and its order on its track is its place in the buffer, the only one its
// track writes to. The rest (every M's event, whose track spans buffers, and
// wide numbers) take a second slot: the slot holds the sequence number and
// the full time, the second a and b.
struct Slot {
  uint32_t dt;   // two slots: seq
  uint8_t kind;  // | kWide for two slots
  uint8_t pid;
  uint16_t tid;
  uint32_t a;  // two slots: the time's low half
  uint32_t b;  // two slots: the time's high half
};
static_assert(sizeof(Slot) == 16);
constexpr uint8_t kWide = 0x80;

struct Chunk {
  static constexpr size_t kBytes = 256 * 1024;
  static constexpr uint32_t kSlots = (kBytes - 32) / sizeof(Slot);
  Chunk* next;
  uint32_t n;    // slots used
  int64_t base;  // the time of the first event
  alignas(16) Slot slots[kSlots];
};
static_assert(sizeof(Chunk) <= Chunk::kBytes);

// A chain of chunks with one writer at a time (a P's, or the global one
// under its lock).
struct Buf {
  Chunk* head = nullptr;
  Chunk* tail = nullptr;
  // Inline in trace.cpp, its one user: the hot path of every event. Its
  // fields come one by one, not as an Event: passed whole, an Event goes
  // through the stack in pieces and is read back whole, which stalls.
  __attribute__((always_inline)) inline void append(Ev kind, uint8_t pid, uint16_t tid, int64_t ts, uint32_t seq,
                                                    uint64_t a, uint64_t b);
  void append_slowly(const Event& e);  // a new chunk, or two slots
};

// Every event of a chain of chunks, with the order of one-slot events put
// back from their places (their seq is their index in the chain).
std::vector<Event> decode(const Chunk* list);

extern std::atomic<bool> enabled;

// The check every hook site makes first.
inline bool on() { return enabled.load(std::memory_order_relaxed); }

// Hooks (call only when on()). p is the caller's P, held by the caller; m
// the caller's M (null on a thread outside the runtime).
void go_create(M* m, G* g);
void go_start(P* p, G* g);
void go_stop(P* p, G* g, Ev why);  // kGoBlock (g->wait_reason), kGoSched, ...
// go_stop of g and go_start of next at one moment: a direct switch.
void go_switch(P* p, G* g, Ev why, G* next);
void go_unblock(M* m, G* g);
void go_steal(P* p, G* g, P* victim);
void proc_start(M* m, P* p);
void proc_stop(M* m, P* p);
void syscall_enter(M* m, P* p, G* g);
// kept_p: m got p back; else it lost p (and holds none).
void syscall_exit(M* m, G* g, P* p, bool kept_p);
void m_idle(M* m, bool begin);
void proc_steal(P* p);  // sysmon, on the outside track
// The collector's track (the collecting goroutine, or a stopper).
void gc_event(Ev kind, uint64_t a = 0, uint64_t b = 0);

// Starting and stopping, for runtime/trace.cpp. While the runtime runs both
// are called by a goroutine that has stopped the world (or before any M
// exists, or after every M has gone).
//
// begin: clears the buffers, records every live goroutine (GoStatus), and
// switches recording on. stopper_p: the caller's P (null: not a goroutine),
// whose goroutine is running already.
void begin(P* stopper_p, G* stopper_g);
// end: switches recording off and hands back every chunk recorded, as one
// list; the caller gives them back with free_chunks once it has read them.
Chunk* end();
void free_chunks(Chunk* list);
// The last recording's clocks, to turn its cputicks into nanoseconds since
// it began: ns = (ticks - start_ticks) * ns_per_tick.
struct Clock {
  int64_t start_ticks = 0;
  double ns_per_tick = 1;
};
Clock clock();
// The runtime is going away while tracing: keep what its Ps recorded.
void retire_p(P* p);

// sysmon, each round: maps chunks ahead of need while recording. True when
// it mapped any (the trace is being written fast: look again soon).
bool refill_spares();

}  // namespace trace
}  // namespace gort::sched
