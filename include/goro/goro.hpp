// Umbrella header for goro: Go's runtime model for C++20.
#pragma once

#include "goro/chan.hpp"
#include "goro/context.hpp"
#include "goro/metrics.hpp"
#include "goro/net.hpp"
#include "goro/os.hpp"
#include "goro/runtime.hpp"
#include "goro/select.hpp"
#include "goro/signal.hpp"
#include "goro/sync.hpp"
#include "goro/thread.hpp"
#include "goro/time.hpp"
#include "goro/trace.hpp"
