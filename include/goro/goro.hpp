// Umbrella header for goro: Go's runtime model for C++20.
#pragma once

#include "goro/runtime.hpp"
#include "goro/sync.hpp"
#include "goro/time.hpp"
