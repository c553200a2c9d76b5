#include "sched/panic.hpp"

#include <exception>
#include <mutex>
#include <string>

#include "runtime/internal/fatal.hpp"
#include "sched/sched.hpp"
#include "sched/traceback.hpp"

namespace gort::sched {

namespace {

std::terminate_handler previous = nullptr;

void report(std::FILE* out) { dump_current_goroutine(out); }

[[noreturn]] void on_terminate() {
  std::exception_ptr ep = std::current_exception();
  if (!ep || !current_g()) {
    previous();  // never null: std::set_terminate returned at least the default
    internal::throw_error("a terminate handler returned");
  }
  std::string what = "unknown exception";
  try {
    std::rethrow_exception(ep);
  } catch (const std::exception& e) {
    what = e.what();
  } catch (...) {
  }
  internal::die_of_panic(what, report);
}

}  // namespace

void install_panic_handler() {
  static std::once_flag once;
  std::call_once(once, [] { previous = std::set_terminate(on_terminate); });
}

}  // namespace gort::sched
