// The Python bindings (pybind11): softslm._softslm, wrapped by python/softslm/__init__.py,
// which turns the arrays into numpy. A front end beside cli/: it calls the library's layers
// (model, tokenizer, generate, train, eval) and nothing calls it.
//
// Arrays cross as plain lists or as float32 bytes (no numpy C API here: any numpy version
// reads them with frombuffer); the hook's input vector is a writable memoryview on the
// decoder's own buffer, so a hook can change what the model is fed. Compute runs with the GIL
// released; Error becomes softslm.Error (a RuntimeError) with softslm's one-line message.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cmath>
#include <limits>

#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/io.h"
#include "eval/eval.h"
#include "generate/generate.h"
#include "generate/model_dir.h"
#include "generate/soft_config.h"
#include "generate/trace.h"
#include "model/checkpoint.h"
#include "model/transformer.h"
#include "tasks/tasks.h"
#include "tokenizer/tokenizer.h"
#include "train/trainer.h"

namespace py = pybind11;
using json = nlohmann::json;

namespace softslm {
namespace {

struct PyModel {
  std::string dir;
  std::shared_ptr<const InferenceWeights> w;
  Tokenizer tok;
  int eos_id = -1, think_open = -1, think_close = -1;
  SoftThinkingParams trained;  // the model's decoding file
  bool has_trained = false;
  Dtype dtype = Dtype::kF32;
  const Model& model() const { return *w->model; }
};

std::shared_ptr<PyModel> model_load_py(const std::string& dir, const std::string& dtype) {
  auto m = std::make_shared<PyModel>();
  m->dir = dir;
  m->dtype = dtype_parse(dtype);
  LoadedModel lm = load_model_dir(dir);
  Model model = std::move(lm.model);
  m->tok = std::move(lm.tok);
  m->eos_id = lm.eos_id;
  m->think_open = tokenizer_special_id(m->tok, kThinkOpen);
  m->think_close = tokenizer_special_id(m->tok, kThinkClose);
  const std::string trained = dir + "/" + kSoftThinkingFile;
  if (file_exists(trained)) {
    soft_config_load(m->trained, trained);
    m->has_trained = true;
  }
  m->w = inference_weights_create(std::move(model), m->dtype);
  return m;
}

py::bytes floats(const float* x, size_t n) {
  return py::bytes(reinterpret_cast<const char*>(x), n * sizeof(float));
}

std::vector<int> prompt_ids(const PyModel& m, const py::handle& p) {
  if (py::isinstance<py::str>(p)) {
    std::vector<int> ids = tokenizer_encode(m.tok, p.cast<std::string>(), /*allow_special=*/true);
    if (ids.empty()) ids.push_back(m.eos_id);  // empty: start a document
    return ids;
  }
  return p.cast<std::vector<int>>();
}

// "key=value" from a Python value (bool, number or string) for soft_config_set
std::string assignment(const std::string& key, const py::handle& v) {
  if (py::isinstance<py::bool_>(v)) return key + "=" + (v.cast<bool>() ? "true" : "false");
  if (py::isinstance<py::int_>(v)) return key + "=" + std::to_string(v.cast<long long>());
  if (py::isinstance<py::float_>(v)) return key + "=" + json(v.cast<double>()).dump();
  if (py::isinstance<py::str>(v)) return key + "=" + v.cast<std::string>();
  fail("soft_thinking: ", key, " must be a bool, number or string");
}

void flatten(const py::dict& d, const std::string& prefix, std::vector<std::string>& out) {
  for (auto kv : d) {
    const std::string k = prefix + kv.first.cast<std::string>();
    if (py::isinstance<py::dict>(kv.second))
      flatten(kv.second.cast<py::dict>(), k + ".", out);
    else
      out.push_back(assignment(k, kv.second));
  }
}

py::dict step_record(const StepRecord& r, const Tokenizer& tok) {
  py::dict d;
  d["seq"] = r.seq;
  d["step"] = r.step;
  d["thinking"] = r.thinking;
  d["soft"] = r.soft;
  d["token"] = r.token;
  d["text"] = py::bytes(tokenizer_decode(tok, &r.token, 1));
  d["entropy"] = r.entropy;
  d["ids"] = r.ids;
  d["weights"] = r.w;
  d["switch"] = r.switch_reason ? py::object(py::str(r.switch_reason)) : py::object(py::none());
  return d;
}

// generate(prompts, params, soft, hook, trace): one batch (sequence i: seed + i)
py::list generate_py(const PyModel& m, const py::list& prompts, const py::dict& params,
                     const py::object& soft, const py::object& hook, bool trace) {
  GenerateParams P;
  P.dtype = m.dtype;
  P.eos_id = m.eos_id;
  P.think_open_id = m.think_open;
  P.think_close_id = m.think_close;
  P.vocab_limit = tokenizer_vocab_size(m.tok);
  if (m.has_trained) P.soft = m.trained;  // decode as trained unless told otherwise
  for (auto kv : params) {
    const std::string k = kv.first.cast<std::string>();
    const py::handle v = kv.second;
    if (k == "max_new_tokens") P.max_new_tokens = v.cast<int>();
    else if (k == "temperature") P.sampler.temperature = v.cast<float>();
    else if (k == "top_k") P.sampler.top_k = v.cast<int>();
    else if (k == "top_p") P.sampler.top_p = v.cast<float>();
    else if (k == "min_p") P.sampler.min_p = v.cast<float>();
    else if (k == "seed") P.seed = v.cast<uint64_t>();
    else fail("generate: unknown parameter '", k, "' (max_new_tokens, temperature, top_k, top_p, min_p, seed)");
  }
  if (py::isinstance<py::bool_>(soft)) {
    if (!soft.cast<bool>()) P.soft.mode = ThinkMode::kOff;
    else if (P.soft.mode == ThinkMode::kOff) P.soft.mode = ThinkMode::kThinkTags;
  } else if (py::isinstance<py::dict>(soft)) {
    if (P.soft.mode == ThinkMode::kOff) P.soft.mode = ThinkMode::kThinkTags;
    std::vector<std::string> sets;
    flatten(soft.cast<py::dict>(), "", sets);
    for (const std::string& s : sets) soft_config_set(P.soft, s);
  } else if (!soft.is_none()) {
    fail("generate: soft_thinking must be None, a bool or a dict of soft-thinking keys");
  }
  std::vector<std::vector<int>> ids;
  for (const py::handle& p : prompts) ids.push_back(prompt_ids(m, p));
  check(!ids.empty(), "generate: no prompts");
  const int C = m.model().cfg.n_embd;
  std::vector<std::vector<StepRecord>> traces(ids.size());
  std::function<void(const StepRecord&, float*)> py_hook;
  StepHook step_hook;
  if (!hook.is_none() || trace) {
    step_hook = [&](const StepRecord& r, float* x) {
      if (trace) traces[r.seq].push_back(r);
      if (hook.is_none()) return;
      py::gil_scoped_acquire gil;
      py::object view = x ? py::object(py::memoryview::from_buffer(x, {C}, {(ssize_t)sizeof(float)}, false))
                          : py::object(py::none());
      hook(step_record(r, m.tok), view);  // exceptions propagate as error_already_set
    };
  }
  std::vector<SeqResult> res;
  {
    py::gil_scoped_release nogil;
    res = generate(m.w, ids, P, step_hook);
  }
  py::list out;
  for (size_t i = 0; i < res.size(); i++) {
    const SeqResult& r = res[i];
    py::dict d;
    const SeqText st = seq_text(r, m.tok, m.eos_id, m.think_close);
    d["prompt_tokens"] = ids[i];
    d["tokens"] = r.tokens;
    d["entropy"] = floats(r.entropy.data(), r.entropy.size());
    d["thinking_mask"] = std::vector<int>(r.thinking.begin(), r.thinking.end());
    d["thinking"] = py::bytes(st.thinking);
    d["answer"] = py::bytes(st.answer);
    d["text"] = py::bytes(st.text);
    d["soft_steps"] = r.thinking_steps;
    d["think_end"] = r.think_end;
    d["stop_reason"] = r.stop_reason;
    d["mode"] = think_mode_name(P.soft.mode);
    if (!r.error.empty()) d["error"] = r.error;
    if (trace) {
      py::list steps;
      for (const StepRecord& s : traces[i]) steps.append(step_record(s, m.tok));
      d["trace"] = steps;
    }
    out.append(d);
  }
  return out;
}

// Logits of every position of one sequence: float32 bytes [n, V].
py::tuple logits_py(const PyModel& m, const std::vector<int>& ids) {
  const ModelConfig& c = m.model().cfg;
  const int n = (int)ids.size(), V = c.vocab_size;
  check(n >= 1, "logits: no token ids");
  check(n <= c.n_ctx, "logits: ", n, " tokens; the model's context is ", c.n_ctx);
  for (int t : ids) check(t >= 0 && t < V, "logits: token id ", t, " outside [0, ", V, ")");
  std::vector<float> out((size_t)n * V);
  {
    py::gil_scoped_release nogil;
    Transformer tr = transformer_create(m.w, 1);
    std::vector<int> seq(n, 0), pos(n);
    for (int t = 0; t < n; t++) pos[t] = t;
    transformer_forward_tokens(tr, n, seq.data(), pos.data(), ids.data(), n, nullptr, out.data());
  }
  return py::make_tuple(floats(out.data(), out.size()), n, V);
}

py::dict train_py(const std::string& config, const std::vector<std::string>& sets,
                  const py::object& progress, bool quiet) {
  TrainConfig cfg = train_config_load(config);
  for (const std::string& s : sets) train_config_set(cfg, s);
  train_config_validate(cfg);
  TrainOptions opt;
  opt.quiet = quiet;
  if (!progress.is_none())
    opt.on_step = [&](int64_t step, float loss, float val) {
      py::gil_scoped_acquire gil;
      py::object r = progress(step, loss, std::isnan(val) ? py::object(py::none()) : py::float_(val));
      return r.is_none() || r.cast<bool>();  // False stops the run
    };
  TrainResult r;
  {
    py::gil_scoped_release nogil;
    r = train_run(cfg, opt);
  }
  py::dict d;
  d["out_dir"] = cfg.out_dir;
  d["start_step"] = r.start_step;
  d["end_step"] = r.end_step;
  d["losses"] = r.losses;
  d["val_losses"] = r.val_losses;
  d["wall_s"] = r.wall_s;
  d["stopped"] = r.interrupted;
  return d;
}

std::string eval_py(const std::string& model_dir, const std::vector<std::string>& tasks, int n,
                    const std::vector<std::string>& decode, const std::string& split,
                    uint64_t data_seed, uint64_t seed, int samples, int max_new_tokens,
                    const std::string& dtype) {
  EvalOptions opt;
  opt.samples = samples;
  opt.seed = seed;
  opt.max_new_tokens = max_new_tokens;
  opt.dtype = dtype_parse(dtype);
  opt.trace_examples = 0;
  std::vector<DecodeConfig> configs = decode_configs_resolve(decode, "", model_dir);
  check(!configs.empty(), "eval: no decoding configuration");
  std::vector<EvalExample> examples = eval_task_examples(tasks, split, data_seed, n);
  check(!examples.empty(), "eval: no examples (give tasks and n >= 1)");
  std::shared_ptr<PyModel> m = model_load_py(model_dir, dtype);
  for (const DecodeConfig& c : configs) decode_config_validate(c, m->model().cfg.vocab_size);
  std::vector<EvalRun> runs;
  {
    py::gil_scoped_release nogil;
    for (const DecodeConfig& c : configs) runs.push_back(eval_run(m->w, m->tok, examples, c, opt));
  }
  return eval_summary_json(runs).dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace
}  // namespace softslm

PYBIND11_MODULE(_softslm, mod) {
  using namespace softslm;
  mod.doc() = "softslm: small GPT-2 models with Soft Thinking (C++ core; see softslm/__init__.py)";
  static py::exception<Error> error(mod, "Error", PyExc_RuntimeError);
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const Error& e) {
      error(e.what());
    } catch (const json::exception& e) {
      error(("malformed JSON value (" + library_message(e) + ")").c_str());
    }
  });
  py::class_<PyModel, std::shared_ptr<PyModel>>(mod, "Model")
      .def_static("load", &model_load_py, py::arg("dir"), py::arg("dtype") = "f32")
      .def_readonly("dir", &PyModel::dir)
      .def_property_readonly("config", [](const PyModel& m) {
        const ModelConfig& c = m.model().cfg;
        py::dict d;
        d["vocab_size"] = c.vocab_size;
        d["n_ctx"] = c.n_ctx;
        d["n_embd"] = c.n_embd;
        d["n_layer"] = c.n_layer;
        d["n_head"] = c.n_head;
        return d;
      })
      .def_property_readonly("decoding", [](const PyModel& m) {
        return m.has_trained ? py::object(py::str(soft_config_to_yaml(m.trained))) : py::object(py::none());
      })
      .def_readonly("eos_id", &PyModel::eos_id)
      .def("encode", [](const PyModel& m, const std::string& text, bool allow_special) {
        return tokenizer_encode(m.tok, text, allow_special);
      }, py::arg("text"), py::arg("allow_special") = true)
      .def("decode", [](const PyModel& m, const std::vector<int>& ids) {
        return py::bytes(tokenizer_decode(m.tok, ids));
      })
      .def("vocab_size_tokenizer", [](const PyModel& m) { return tokenizer_vocab_size(m.tok); })
      .def("generate", &generate_py, py::arg("prompts"), py::arg("params"), py::arg("soft"),
           py::arg("hook"), py::arg("trace"))
      .def("logits", &logits_py);
  mod.def("train", &train_py, py::arg("config"), py::arg("sets"), py::arg("progress"),
          py::arg("quiet"));
  mod.def("eval", &eval_py);
}
