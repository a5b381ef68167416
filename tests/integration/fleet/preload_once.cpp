// Preloaded next to libfaketime into the control plane by fleet_chaos_test: removes LD_PRELOAD
// from the process's environment before main(), so that the fleet it forks does not inherit
// libfaketime. Only the control plane's wall clock jumps; the sidecars keep the real one
// (libfaketime 0.9.10 with FAKETIME_ONLY_CMDS makes clock_gettime fail in the processes it
// skips, which aborts the proxies).
#include <stdlib.h>

namespace {
__attribute__((constructor)) void forgetPreload() { ::unsetenv("LD_PRELOAD"); }
}  // namespace
