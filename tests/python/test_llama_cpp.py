"""softslm export --format gguf run by llama.cpp itself (llama-cpp-python, which builds
llama.cpp from its source package): its tokenizer gives softslm's ids, its next-token
log-probabilities equal softslm score's, and its greedy continuation equals softslm
generate's. Skipped, saying so, where llama-cpp-python is not installed (scripts/setup
--with-llama-cpp).

LLAMA_CPP_BIN=DIR runs the same tests on another llama.cpp build: llama-cpp-python then loads
DIR/bin/libllama.so (its LLAMA_CPP_LIB_PATH) instead of the one it built, so that build must
have the C API this llama-cpp-python version binds (e.g. the llama.cpp its source package
vendors, built with cmake)."""
import json
import os

import numpy as np
import pytest

from conftest import softslm, COT, SAMPLE

LLAMA_CPP_BIN = os.environ.get("LLAMA_CPP_BIN")
if LLAMA_CPP_BIN:
    lib_dir = os.path.join(LLAMA_CPP_BIN, "bin")
    if not os.path.exists(os.path.join(lib_dir, "libllama.so")):
        raise pytest.UsageError(f"LLAMA_CPP_BIN={LLAMA_CPP_BIN}: no bin/libllama.so there "
                                "(give a llama.cpp build directory, built with shared libraries)")
    os.environ["LLAMA_CPP_LIB_PATH"] = lib_dir

llama_cpp = pytest.importorskip(
    "llama_cpp", reason="llama-cpp-python is not installed (scripts/setup --with-llama-cpp)")


def load(path, n_ctx):
    # an f32 KV cache (llama.cpp's default is f16) keeps the comparison about the weights
    return llama_cpp.Llama(model_path=path, n_ctx=n_ctx, logits_all=True, verbose=False,
                           n_threads=2, n_batch=n_ctx, type_k=0, type_v=0)


def log_softmax(x):
    x = x.astype(np.float64)
    x -= x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


@pytest.mark.parametrize("model,text", [
    (COT, "12*34=<think>12*4:2*4+0=8,8 1*4+0=4,48</think>408"),
    (SAMPLE, "Once upon a time, a little cat sat on the mat. The dog said hello."),
])
# llama.cpp's kernels are not softslm's (GELU from an f16 table, its own exp and softmax;
# q8_0 also quantizes the activations): the largest and the mean difference per dtype
@pytest.mark.parametrize("dtype,max_diff,mean_diff", [("f32", 1e-2, 2e-3), ("f16", 3e-2, 1e-2),
                                                      ("q8_0", 1.0, 0.1)])
def test_llama_cpp_logprobs_equal_score(tmp_path, model, text, dtype, max_diff, mean_diff):
    out = str(tmp_path / "m.gguf")
    softslm("export", "--format", "gguf", "--model", model, "-o", out, "--dtype", dtype)
    sc = json.loads(softslm("score", "-m", model, "--text", text).stdout)
    cfg = json.load(open(os.path.join(model, "config.json")))
    ids = [cfg["eos_token_id"]] + [t["id"] for t in sc["tokens"]]  # score opens with eos
    llm = load(out, cfg["n_ctx"])
    assert llm.tokenize(text.encode(), add_bos=False, special=True) == ids[1:]
    llm.eval(ids)
    lp = log_softmax(np.array(llm.scores[: len(ids)]))
    mine = np.array([t["logprob"] for t in sc["tokens"]])
    theirs = lp[np.arange(len(ids) - 1), ids[1:]]
    diff = np.abs(theirs - mine)
    print(f"{dtype}: max {diff.max():.2e}, mean {diff.mean():.2e} over {len(diff)} tokens")
    assert diff.max() < max_diff and diff.mean() < mean_diff, (diff.max(), diff.mean())


def test_llama_cpp_greedy_equals_generate(tmp_path):
    out = str(tmp_path / "m.gguf")
    softslm("export", "--format", "gguf", "--model", COT, "-o", out)
    g = softslm("generate", "-m", COT, "--prompt", "4528+734=", "--temperature", "0", "-n", "60",
                "--json").stdout
    want = json.loads(g[: g.rindex("}") + 1])["tokens"]
    llm = load(out, 256)
    ids = llm.tokenize(b"4528+734=", add_bos=False, special=True)
    got = []
    for _ in range(len(want)):
        llm.eval(ids[-1:] if got else ids)
        t = int(np.argmax(llm.scores[llm.n_tokens - 1]))
        got.append(t)
        ids.append(t)
        if t == 256:
            break
    assert got == want


def test_the_llama_cpp_build_asked_for_is_the_one_loaded():
    if not LLAMA_CPP_BIN:
        pytest.skip("LLAMA_CPP_BIN is not set: these tests run on llama-cpp-python's own build")
    loaded = os.path.realpath(llama_cpp.llama_cpp._lib._name)
    assert loaded.startswith(os.path.realpath(os.path.join(LLAMA_CPP_BIN, "bin"))), loaded
