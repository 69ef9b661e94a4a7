"""import softslm: generation equal to the CLI's, hooks that see and change the input
vectors, logits equal to softslm score, training with a progress callback that can stop it,
eval, errors as softslm.Error, and the GIL released during compute."""
import json
import threading
import time

import numpy as np
import pytest

from conftest import softslm as cli, COT, SOURCE_DIR

softslm = pytest.importorskip("softslm", reason="the Python module is not built (pybind11-dev)")


@pytest.fixture(scope="module")
def cot():
    return softslm.Model.load(COT)


def cli_json(*args):
    out = cli(*args).stdout
    return json.loads(out[: out.rindex("}") + 1])


@pytest.mark.parametrize("args,kw", [
    (["--temperature", "0"], dict(temperature=0)),
    (["--soft-thinking", "--seed", "4", "--set", "max_topk=5"], dict(soft_thinking={"max_topk": 5}, seed=4)),
    (["--soft-thinking", "--seed", "2", "--set", "gumbel.enabled=true"], dict(soft_thinking={"gumbel": {"enabled": True}}, seed=2)),
])
def test_generate_equals_cli(cot, args, kw):
    g = cli_json("generate", "-m", COT, "--prompt", "56*78=", "--json", "-n", "150", *args)
    r = cot.generate("56*78=", max_new_tokens=150, **kw)[0]
    assert r.text == g["text"]
    assert r.thinking == g["thinking"] and r.answer == g["answer"]
    assert r.tokens.tolist() == g["tokens"]
    assert r.soft_steps == g["thinking_steps"] and r.think_end == g["think_end"]
    assert r.entropy.dtype == np.float32 and len(r.entropy) == len(r.tokens)


def test_batch_equals_each_alone(cot):
    prompts = ["12*34=", "4528+734=", "7+2="]
    batch = cot.generate(prompts, max_new_tokens=120, seed=10, soft_thinking=True)
    for i, p in enumerate(prompts):
        alone = cot.generate(p, max_new_tokens=120, seed=10 + i, soft_thinking=True)[0]
        assert alone.tokens.tolist() == batch[i].tokens.tolist()


def test_hooks_see_and_change_the_input(cot):
    # the vector fed after a discrete step is that token's embedding: learn them from a run
    emb = {}
    def learn(rec, vec):
        if vec is not None and not rec["soft"]:
            emb[rec["token"]] = vec.copy()
    cot.generate(["98765+4321=", "305*7=", "12*34=", "56*78=", "4528+734="], max_new_tokens=150,
                 temperature=0, on_step=learn)
    # intervention: each concept token replaced by the embedding of its top-1 id equals
    # soft thinking with one-entry concepts (max_topk 1)
    def top1(rec, vec):
        if vec is not None and rec["soft"]:
            assert rec["weights"][0] == rec["weights"].max()
            return emb[int(rec["ids"][0])]
    a = cot.generate("4528+734=", max_new_tokens=100, soft_thinking=True, seed=3, on_step=top1)[0]
    b = cot.generate("4528+734=", max_new_tokens=100, soft_thinking={"max_topk": 1}, seed=3)[0]
    assert a.tokens.tolist() == b.tokens.tolist()
    assert np.array_equal(a.entropy, b.entropy)
    # and an intervention that matters changes the output: zero inputs while thinking
    def zero(rec, vec):
        if vec is not None and rec["thinking"]:
            vec[:] = 0
    c = cot.generate("4528+734=", max_new_tokens=100, soft_thinking=True, seed=3, on_step=zero)[0]
    assert c.tokens.tolist() != b.tokens.tolist()
    # trace records carry the concepts
    t = cot.generate("4528+734=", max_new_tokens=100, soft_thinking=True, seed=3, trace=True)[0]
    assert len(t.trace) == len(t.tokens)
    assert sum(r["soft"] for r in t.trace) == t.soft_steps > 0
    assert all(abs(r["weights"].sum() - 1) < 1e-5 for r in t.trace)


def test_logits_and_score_equal_cli(cot):
    s = cli_json("score", "-m", COT, "--text", "12*34=<think>12*4")
    mine = cot.score("12*34=<think>12*4")
    assert mine["tokens"] == [t["id"] for t in s["tokens"]]
    np.testing.assert_allclose(mine["logprobs"], [t["logprob"] for t in s["tokens"]], atol=1e-4)
    lg = cot.logits([256, 49, 50])
    assert lg.shape == (3, 259) and lg.dtype == np.float32


def test_train_with_progress_and_stop(tmp_path):
    seen = []
    def progress(step, loss, val):
        seen.append((step, loss, val))
        return step < 3  # stop after step 3
    r = softslm.train(f"{SOURCE_DIR}/configs/train-sample.yaml",
                      {"steps": 10, "out_dir": str(tmp_path / "run"), "eval_interval": 2,
                       "log_interval": 1, "data.train": [f"{SOURCE_DIR}/data/sample.txt"]},
                      progress=progress)
    assert [s[0] for s in seen] == [1, 2, 3]
    assert r["stopped"] and r["end_step"] == 3
    assert seen[1][2] is not None and seen[0][2] is None  # evaluated at step 2 only
    assert all(np.isfinite(s[1]) for s in seen)
    m = softslm.Model.load(r["out_dir"])  # the checkpoint is a loadable model directory
    assert m.config["n_layer"] >= 1


def test_eval_equals_cli(tmp_path):
    out = tmp_path / "ev"
    cli("eval", "-m", COT, "--task", "add", "-n", "12", "--decode", "greedy,soft", "-q", "-o", str(out))
    want = json.load(open(out / "summary.json"))
    got = softslm.eval(COT, tasks="add", n=12, decode=["greedy", "soft"])
    for w, g in zip(want, got):
        assert w["config"] == g["config"]
        assert w["tasks"] == g["tasks"]


def test_errors_are_softslm_errors(cot):
    with pytest.raises(softslm.Error, match="nonexistent"):
        softslm.Model.load("/nonexistent/model")
    with pytest.raises(softslm.Error, match="max_topk"):
        cot.generate("1+1=", soft_thinking={"max_topk": 0})
    with pytest.raises(softslm.Error, match="unknown"):
        cot.generate("1+1=", soft_thinking={"no_such_key": 1})
    with pytest.raises(softslm.Error, match="context"):
        cot.logits(list(range(100)) * 3)
    def bad(rec, vec):
        raise KeyError("from the hook")
    with pytest.raises(KeyError, match="from the hook"):
        cot.generate("1+1=", max_new_tokens=5, on_step=bad)


def test_the_gil_is_released(cot):
    # while another thread decodes, this one keeps running: no long gap between its ticks
    # (were the GIL held, it would wait for the whole generation)
    done = threading.Event()
    def work():
        cot.generate(["98765+4321="] * 32, max_new_tokens=200, temperature=0)
        done.set()
    t = threading.Thread(target=work)
    t0 = last = time.perf_counter()
    t.start()
    gap = 0.0
    while not done.is_set():
        now = time.perf_counter()
        gap, last = max(gap, now - last), now
    total = time.perf_counter() - t0
    t.join()
    assert total > 0.3, "the generation was too short to tell"
    assert gap < total / 2, f"this thread stalled {gap:.3f} s of {total:.3f} s"
