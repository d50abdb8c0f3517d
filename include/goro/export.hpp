// Symbol visibility for goro's public API. The library builds with -fvisibility=hidden, and
// only declarations marked GORO_EXPORT are part of its interface.
#pragma once

#if defined(GORO_BUILDING)
#define GORO_EXPORT __attribute__((visibility("default")))
#else
#define GORO_EXPORT
#endif
