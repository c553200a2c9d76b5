// Everything a gort program uses. See README.md for a tour.
#pragma once

#include "gort/chan.hpp"
#include "gort/cond.hpp"
#include "gort/gc.hpp"
#include "gort/mutex.hpp"
#include "gort/net.hpp"
#include "gort/numa.hpp"
#include "gort/once.hpp"
#include "gort/panic.hpp"
#include "gort/runtime.hpp"
#include "gort/select.hpp"
#include "gort/time.hpp"
#include "gort/trace.hpp"
#include "gort/waitgroup.hpp"
