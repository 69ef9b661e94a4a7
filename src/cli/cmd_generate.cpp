#include "cli/commands.h"

namespace softslm {

void register_generate(CLI::App& app) { (void)app; }

}  // namespace softslm
