#include "cli/commands.h"

namespace softslm {

void register_score(CLI::App& app) { (void)app; }

}  // namespace softslm
