// softslm: small GPT-2 language models with Soft Thinking, on the CPU.
//
// Exit codes: 0 success; 1 bad input or a failed run (one line "softslm: error: <where>:
// <what>" on stderr); 2 bad usage (unknown command or flag, a flag's value of the wrong
// type: the same one-line style); 130 training interrupted by Ctrl-C (checkpoint saved).
#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "cli/commands.h"

namespace {

constexpr const char* kCommands =
    "train, generate, score, bench, tokenizer, eval, report, viz, data, serve, export";

// One line: newlines and tabs in a message (CLI11's, a library's) become spaces.
std::string one_line(std::string s) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

int report(const std::string& msg, int code) {
  std::fprintf(stderr, "softslm: error: %s\n", one_line(msg).c_str());
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"softslm: train and run small GPT-2 language models (with Soft Thinking) on the CPU"};
  app.require_subcommand(1);
  app.footer("Exit codes: 0 ok, 1 bad input or failed run, 2 bad usage, 130 interrupted.");
  softslm::register_train(app);
  softslm::register_generate(app);
  softslm::register_score(app);
  softslm::register_bench(app);
  softslm::register_tokenizer(app);
  softslm::register_eval(app);
  softslm::register_report(app);
  softslm::register_data(app);
  softslm::register_serve(app);
  softslm::register_export(app);
  // an unknown command: CLI11 would only say that a subcommand is required
  if (argc >= 2 && argv[1][0] != '-') {
    bool known = true;
    try {
      app.get_subcommand(std::string(argv[1]));
    } catch (const CLI::OptionNotFound&) {
      known = false;
    }
    if (!known)
      return report(std::string("unknown command '") + argv[1] + "' (one of: " + kCommands +
                        "); see softslm --help",
                    2);
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {  // --help (and its variants): exit 0
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {  // a command's own exit code (train's 130)
    return e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    std::string msg = e.what();
    if (argc < 2) msg = std::string("no command given (one of: ") + kCommands +
                        "); see softslm --help";
    return report(msg + (argc < 2 ? "" : " (see --help)"), 2);
  } catch (const softslm::Error& e) {
    return report(e.what(), 1);
  } catch (const std::bad_alloc&) {
    return report("out of memory (the model, batch or data is too large for this machine)", 1);
  } catch (const nlohmann::json::exception& e) {
    return report("malformed JSON value (" + softslm::library_message(e) + ")", 1);
  } catch (const std::exception& e) {
    return report(std::string("internal error: ") + e.what(), 1);
  }
  return 0;
}
