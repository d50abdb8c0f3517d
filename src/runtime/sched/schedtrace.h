// GODEBUG=schedtrace=N and scheddetail=1 output, in current Go's format.
#pragma once

namespace goro::rt {

// Prints one SCHED line (and, with detail, every P, M and G) to stderr.
void schedtrace(bool detail);

}  // namespace goro::rt
