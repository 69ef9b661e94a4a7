#include "cli/commands.h"

namespace softslm {

void register_train(CLI::App& app) { (void)app; }

}  // namespace softslm
