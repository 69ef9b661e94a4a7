"""lm-evaluation-harness (lm-eval from PyPI) against softslm serve, through its
local-completions model with no configuration beyond the URL: it finds the server's tokenizer
endpoints (/tokenizer_info, /tokenize, /detokenize), scores with prompt + echo + logprobs and
generates with stop strings. Its log-likelihoods equal softslm score's, and its generations
equal softslm's greedy answers. Two tasks over `softslm data` items, from local files:
- add_ll (multiple choice): the true chain and answer, or the same chain with a wrong answer;
- add_gen (generate_until): the answer after </think>, exact match.
Skipped, saying so, where lm-eval is not installed (scripts/setup --with-hf)."""
import json
import math

import pytest

from conftest import softslm, COT, Server

lm_eval = pytest.importorskip("lm_eval", reason="lm-eval is not installed (scripts/setup --with-hf)")

N = 12


def wrong(answer):
    return str(int(answer) + 1)


@pytest.fixture(scope="module")
def items(tmp_path_factory):
    d = tmp_path_factory.mktemp("lm_eval")
    data = d / "add.jsonl"
    softslm("data", "--task", "add", "-n", str(N), "--split", "test", "-o", str(data))
    rows = [json.loads(l) for l in open(data)]
    with open(d / "add_mc.jsonl", "w") as f:
        for r in rows:  # the chain, then the true answer or a wrong one
            head = r["completion"][: r["completion"].index("</think>") + len("</think>")]
            r["choices"] = [head + r["answer"], head + wrong(r["answer"])]
            f.write(json.dumps(r) + "\n")
    tasks = d / "tasks"
    tasks.mkdir()
    (tasks / "add_ll.yaml").write_text(f"""task: softslm_add_ll
dataset_path: json
dataset_kwargs:
  data_files:
    test: {d / 'add_mc.jsonl'}
test_split: test
output_type: multiple_choice
doc_to_text: "{{{{prompt}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: 0
target_delimiter: ""
metric_list:
  - metric: acc
""")
    (tasks / "add_gen.yaml").write_text(f"""task: softslm_add_gen
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: generate_until
doc_to_text: "{{{{prompt}}}}"
doc_to_target: "{{{{answer}}}}"
generation_kwargs:
  until: ["<|endoftext|>"]
  max_gen_toks: 160
  do_sample: false
  temperature: 0
filter_list:
  - name: answer
    filter:
      - function: regex
        regex_pattern: "</think>(.*)$"
      - function: take_first
metric_list:
  - metric: exact_match
""")
    return d, rows


@pytest.fixture(scope="module")
def results(items, tmp_path_factory):
    d, rows = items
    with pytest.MonkeyPatch.context() as mp:  # no user cache, offline
        mp.setenv("HF_HOME", str(tmp_path_factory.mktemp("hf_home")))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("HF_DATASETS_OFFLINE", "1")
        return evaluate(d), rows, d


def evaluate(d):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager
    server = Server(COT, "--max-batch", "8")
    try:
        return simple_evaluate(
            model="local-completions",
            model_args={"model": "cot", "base_url": server.url + "/v1/completions",
                        "num_concurrent": 4, "max_retries": 1},
            tasks=["softslm_add_ll", "softslm_add_gen"],
            task_manager=TaskManager(include_path=str(d / "tasks")),
            log_samples=True, random_seed=0, numpy_random_seed=0, torch_random_seed=0,
            fewshot_random_seed=0)
    finally:
        assert server.stop() == 0


def items_dir(results):
    return results[2]


def test_loglikelihoods_equal_softslm_score(results):
    res, rows, _ = results
    samples = res["samples"]["softslm_add_ll"]
    assert len(samples) == N
    n_checked = 0
    for s in samples:
        doc = s["doc"]
        for choice, resp in zip(doc["choices"], s["resps"]):
            ll, is_greedy = resp[0]
            # score --no-bos: "tokens" holds ids 1.. (the first is context only)
            j = json.loads(softslm("score", "-m", COT, "--text", doc["prompt"] + choice,
                                   "--no-bos").stdout)
            n_prompt = len(json.loads(softslm("score", "-m", COT, "--text", doc["prompt"],
                                              "--no-bos").stdout)["tokens"]) + 1
            want = sum(t["logprob"] for t in j["tokens"][n_prompt - 1:])
            assert math.isclose(float(ll), want, abs_tol=1e-3), (doc["prompt"], choice, ll, want)
            n_checked += 1
    assert n_checked == 2 * N
    # the model is right on every item: the true completion is its greedy one, the wrong isn't
    assert all(s["resps"][0][0][1] is True and s["resps"][1][0][1] is False for s in samples)
    assert res["results"]["softslm_add_ll"]["acc,none"] == 1.0


def test_generations_equal_softslm_greedy(results):
    res, rows, _ = results
    samples = sorted(res["samples"]["softslm_add_gen"], key=lambda s: s["doc_id"])
    assert len(samples) == N
    data = items_dir(results) / "add.jsonl"
    out = softslm("generate", "-m", COT, "--temperature", "0", "--max-new-tokens", "160",
                  "--prompts", str(data)).stdout
    mine = [json.loads(l) for l in out.splitlines() if l.strip()]
    assert len(mine) == N
    answers = [m["text"].split("</think>")[-1] for m in mine]  # plain decoding: the whole text
    for s, m, a in zip(samples, mine, answers):
        assert s["doc"]["prompt"] == m["prompt"]
        assert s["resps"][0][0] == m["text"], (m["prompt"], s["resps"], m)
        assert s["filtered_resps"][0] == a
    acc = sum(a == r["answer"] for a, r in zip(answers, rows)) / N
    assert acc > 0.5  # the model does add
    assert res["results"]["softslm_add_gen"]["exact_match,answer"] == pytest.approx(acc)
