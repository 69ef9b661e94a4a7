// Each sub-command registers itself on the CLI11 app; its callback does the work.
#pragma once
#include <CLI/CLI.hpp>

namespace softslm {

void register_train(CLI::App& app);
void register_generate(CLI::App& app);
void register_score(CLI::App& app);
void register_bench(CLI::App& app);
void register_tokenizer(CLI::App& app);
void register_eval(CLI::App& app);
void register_report(CLI::App& app);
void register_data(CLI::App& app);
void register_serve(CLI::App& app);
void register_export(CLI::App& app);

}  // namespace softslm
