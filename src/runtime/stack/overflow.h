// Stack overflow reports and the runtime's synchronous-signal handlers. See overflow.cc.
#pragma once

#include "runtime/sched/runtime2.h"

namespace goro::rt {

// Boot (m0) and every new M: the alternate signal stack that the handlers run on.
void minit_signals(M* mp);
void unminit_signals(M* mp);
// Installs the SIGSEGV/SIGBUS handlers (once per run) and restores the previous ones.
void install_fault_handlers();
void restore_fault_handlers();

// A canary-only stack's canary zone was found written: report and exit 2.
[[noreturn]] void report_canary_overflow(G* gp);

}  // namespace goro::rt
