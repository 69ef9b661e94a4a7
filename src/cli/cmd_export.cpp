// softslm export: a model directory as a GGUF file for llama.cpp (its `gpt2` architecture).
#include <cstdio>
#include <filesystem>

#include "base/error.h"
#include "base/io.h"
#include "cli/cli_common.h"
#include "cli/commands.h"
#include "export/gguf_gpt2.h"

namespace softslm {

namespace {

struct ExportArgs {
  std::string format = "gguf", model, out, dtype = "f32";
};

// The model's name for general.name: the directory's last component.
std::string model_name(const std::string& dir) {
  std::filesystem::path p(dir);
  while (p.has_relative_path() && p.filename().empty()) p = p.parent_path();  // "dir/" -> "dir"
  std::string name = std::filesystem::weakly_canonical(p).filename().string();
  return name.empty() ? "softslm" : name;
}

void run_export(const ExportArgs& a) {
  namespace fs = std::filesystem;
  GgufDtype dtype = gguf_dtype_parse(a.dtype);
  std::error_code ec;
  check(fs::is_directory(a.model, ec), a.model, ": no such model directory");
  check(!fs::is_directory(a.out, ec), a.out, ": is a directory (give the output file's name)");
  fs::path parent = fs::path(a.out).parent_path();
  check(parent.empty() || fs::is_directory(parent, ec), a.out, ": the output directory '",
        parent.string(), "' does not exist");
  LoadedModel lm = load_model_dir(a.model);
  GgufExportSummary s = gguf_export_gpt2(lm.model, lm.tok, model_name(a.model), dtype, a.out);
  std::printf("wrote %s: %d tensors, %llu bytes (%s), dtype %s", a.out.c_str(), s.n_tensors,
              (unsigned long long)s.bytes, bytes_str((double)s.bytes).c_str(),
              gguf_dtype_name(dtype));
  if (s.n_fallback > 0)
    std::printf(" (%d weight%s as f16: rows not a multiple of %d)", s.n_fallback,
                s.n_fallback == 1 ? "" : "s", kQ8_0Block);
  std::printf("\n");
}

}  // namespace

void register_export(CLI::App& app) {
  auto a = std::make_shared<ExportArgs>();
  CLI::App* c = app.add_subcommand(
      "export",
      "Write a model as a GGUF file for llama.cpp (architecture gpt2, with its tokenizer)");
  c->add_option("--format", a->format, "Output format (gguf)")
      ->check(CLI::IsMember({"gguf"}))
      ->capture_default_str();
  c->add_option("-m,--model", a->model, "Model directory (config.json, model.safetensors, "
                "tokenizer.json)")->required();
  c->add_option("-o,--out", a->out, "Output file (written to a temporary name, then renamed)")
      ->required();
  c->add_option("--dtype", a->dtype,
                "2-D weights as f32, f16 or q8_0 (blocks of 32; a weight whose rows are not a "
                "multiple of 32 is written as f16); biases, norms and positions stay f32")
      ->check(CLI::IsMember({"f32", "f16", "q8_0"}))
      ->capture_default_str();
  c->callback([a] { run_export(*a); });
}

}  // namespace softslm
