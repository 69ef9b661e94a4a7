#include "base/threads.h"

#include <omp.h>

#include "base/error.h"

namespace softslm {

int threads_available() { return omp_get_num_procs(); }

int threads_resolve(int requested, const char* what) {
  const int cores = threads_available();
  check(requested >= 0, what, " must be >= 0 (0 = all cores; got ", requested, ")");
  check(requested <= cores, what, " is ", requested, " but this machine has ", cores,
        " core", cores == 1 ? "" : "s", " (0 = all of them)");
  return requested > 0 ? requested : cores;
}

}  // namespace softslm
