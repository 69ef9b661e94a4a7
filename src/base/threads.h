// Thread counts from flags and configs, checked where they enter: 0 means every core the
// process may run on; more threads than that are refused (OpenMP would oversubscribe the
// cores, and absurd counts fail inside its runtime).
#pragma once

namespace softslm {

// Cores this process may run on (OpenMP's view: the affinity mask).
int threads_available();
// `requested` resolved to a count in [1, threads_available()]; throws Error naming `what`
// ("--threads", "config key 'threads'") for a negative count or more than the cores.
int threads_resolve(int requested, const char* what);

}  // namespace softslm
