// softslm: small GPT-2 language models with Soft Thinking, on the CPU.
#include <cstdio>
#include <exception>

#include "base/error.h"
#include "cli/commands.h"

int main(int argc, char** argv) {
  CLI::App app{"softslm: train and run small GPT-2 language models (with Soft Thinking) on the CPU"};
  app.require_subcommand(1);
  softslm::register_train(app);
  softslm::register_generate(app);
  softslm::register_score(app);
  softslm::register_bench(app);
  softslm::register_tokenizer(app);
  softslm::register_eval(app);
  softslm::register_report(app);
  softslm::register_data(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const softslm::Error& e) {
    std::fprintf(stderr, "softslm: error: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "softslm: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
