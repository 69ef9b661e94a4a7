#include "cli/commands.h"

namespace softslm {

void register_tokenizer(CLI::App& app) { (void)app; }

}  // namespace softslm
