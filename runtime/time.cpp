// sleep, after, Timer, Ticker on the runtime's per-P timers.
#include "gort/time.hpp"

#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "gort/panic.hpp"
#include "gort/runtime.hpp"
#include "runtime/internal/nanotime.hpp"
#include "sched/sched.hpp"
#include "sched/timer.hpp"

namespace gort {

namespace detail {

struct TimerState {
  sched::Timer timer;
  chan<Time> c;                     // receives the firing time (nil for after_func)
  std::unique_ptr<TimerFunc> func;  // after_func's function
};

}  // namespace detail

namespace {

using detail::TimerState;

int64_t when_after(Duration d) {
  const int64_t now = internal::nanotime();
  const int64_t ns = d.count() > 0 ? d.count() : 0;
  return ns > INT64_MAX - now ? INT64_MAX : now + ns;
}

// Go's sendTime: a non-blocking send, so a timer never blocks the M that
// runs it and a slow ticker reader just misses ticks.
void send_time(void* arg, int64_t now) {
  auto* st = static_cast<TimerState*>(arg);
  Time value{std::chrono::nanoseconds(now)};
  detail::SelectCase send{st->c.core(), &value, true};
  bool ok;
  detail::select_go(&send, 1, false, &ok);
}

void start_func(void* arg, int64_t) { static_cast<TimerState*>(arg)->func->start_goroutine(); }

// Timers belong to a running runtime's Ps, as goroutines do.
void require_runtime(std::string_view what) {
  if (sched::sched.running.load(std::memory_order_acquire)) return;
  std::string message(what);
  message.append(": the runtime is not running (call it inside gort::run)");
  throw std::logic_error(message);
}

// A timer calling f(state) at `when` (then every period), not started yet.
std::unique_ptr<TimerState> new_timer(const chan<Time>& c, void (*f)(void*, int64_t), int64_t when, int64_t period,
                                      std::unique_ptr<detail::TimerFunc> func = {}) {
  auto st = std::make_unique<TimerState>();
  st->c = c;
  st->func = std::move(func);
  st->timer.f = f;
  st->timer.arg = st.get();
  st->timer.when = when;
  st->timer.period = period;
  return st;
}

std::unique_ptr<TimerState> arm(std::unique_ptr<TimerState> st) {
  sched::add_timer(&st->timer);
  return st;
}

bool start_sleep_timer(sched::G*, void* timer) {
  sched::add_timer(static_cast<sched::Timer*>(timer));
  return true;
}

}  // namespace

void sleep(Duration d) {
  safepoint();
  if (d.count() <= 0) return;
  if (!sched::current_g()) {  // a plain thread
    std::this_thread::sleep_for(d);
    return;
  }
  sched::Timer t;
  t.when = when_after(d);
  t.f = [](void* g, int64_t) { sched::ready(static_cast<sched::G*>(g), true); };
  t.arg = sched::current_g();
  // The timer starts only once we are parked, so it cannot fire first.
  sched::park(start_sleep_timer, &t, "sleep");
  sched::del_timer(&t);  // waits until its function has returned
}

chan<Time> after(Duration d) {
  require_runtime("gort::after");
  auto c = make_chan<Time>(1);
  auto st = new_timer(c, send_time, when_after(d), 0);
  st->timer.dispose = [](sched::Timer* t) { delete static_cast<TimerState*>(t->arg); };
  sched::add_timer(&st.release()->timer);  // owned by the timer heap from now on
  return c;
}

Timer::Timer(Duration d) : C(make_chan<Time>(1)) {
  require_runtime("gort::Timer");
  state_ = arm(new_timer(C, send_time, when_after(d), 0));
}

Timer::Timer(Duration d, std::unique_ptr<detail::TimerFunc> f) : C() {
  require_runtime("gort::after_func");
  state_ = arm(new_timer(C, start_func, when_after(d), 0, std::move(f)));
}

Timer::~Timer() { sched::del_timer(&state_->timer); }

bool Timer::stop() { return sched::del_timer(&state_->timer); }

bool Timer::reset(Duration d) { return sched::reset_timer(&state_->timer, when_after(d), 0); }

Ticker::Ticker(Duration d) : C(make_chan<Time>(1)) {
  require_runtime("gort::Ticker");
  if (d.count() <= 0) throw panic_error("non-positive interval for NewTicker");
  state_ = arm(new_timer(C, send_time, when_after(d), d.count()));
}

Ticker::~Ticker() { sched::del_timer(&state_->timer); }

void Ticker::stop() { sched::del_timer(&state_->timer); }

void Ticker::reset(Duration d) {
  if (d.count() <= 0) throw panic_error("non-positive interval for Ticker.Reset");
  sched::reset_timer(&state_->timer, when_after(d), d.count());
}

}  // namespace gort
