#include "cli/commands.h"

namespace softslm {

void register_bench(CLI::App& app) { (void)app; }

}  // namespace softslm
