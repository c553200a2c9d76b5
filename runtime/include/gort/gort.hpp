// Everything a gort program uses. See README.md for a tour.
#pragma once

#include "gort/panic.hpp"
#include "gort/runtime.hpp"
#include "gort/waitgroup.hpp"
