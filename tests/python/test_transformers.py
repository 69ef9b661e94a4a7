"""Hugging Face transformers (with PyTorch from PyPI) against softslm, both ways:
- a directory softslm writes (the shipped models, and one freshly made by softslm train) loads
  in transformers' GPT2LMHeadModel, and its next-token log-probabilities equal softslm score's
  within 1e-4;
- a small random GPT-2 saved by transformers' save_pretrained (safetensors, with its own
  tokenizer files) loads in softslm with the same log-probabilities and the same greedy
  continuation.
Skipped, saying so, where torch and transformers are not installed (scripts/setup --with-hf)."""
import json
import os
import shutil

import numpy as np
import pytest

from conftest import softslm, COT, SAMPLE, SOURCE_DIR

torch = pytest.importorskip("torch", reason="PyTorch is not installed (scripts/setup --with-hf)")
transformers = pytest.importorskip("transformers",
                                   reason="transformers is not installed (scripts/setup --with-hf)")
from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast  # noqa: E402

TOL = 1e-4


def eot_id(model_dir):
    """<|endoftext|>'s id in the directory's tokenizer.json (score prepends it)."""
    tj = json.load(open(os.path.join(model_dir, "tokenizer.json")))
    return next(t["id"] for t in tj["added_tokens"] if t["content"] == "<|endoftext|>")


def score_json(model_dir, text):
    """softslm score: the token ids (with the leading <|endoftext|>) and, for each id after the
    first, its log-probability."""
    j = json.loads(softslm("score", "-m", model_dir, "--text", text).stdout)
    return [eot_id(model_dir)] + [t["id"] for t in j["tokens"]], [t["logprob"] for t in j["tokens"]]


def hf_logprobs(model, ids):
    """log p(ids[i] | ids[:i]) for i >= 1, in float64 from transformers' float32 logits."""
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0].double()
    lp = torch.log_softmax(logits, dim=-1)[:-1]
    return lp.gather(1, torch.tensor(ids[1:])[:, None])[:, 0].numpy(), logits.numpy()


def check_scores_equal(model_dir, hf, text):
    ids, lps = score_json(model_dir, text)
    assert len(ids) >= 4
    mine = np.array(lps, dtype=np.float64)
    theirs, _ = hf_logprobs(hf, ids)
    diff = np.abs(mine - theirs).max()
    assert diff <= TOL, f"{model_dir}: max |softslm score - transformers| = {diff:.2e} > {TOL}"
    return diff


@pytest.mark.parametrize("model_dir,text", [
    (COT, "4528+734=<think>8+4=12 c1 2+3+1=6 5+7=12 c1 4+1=5</think>5262"),
    (SAMPLE, "Once upon a time, there was a little girl named Lily. She liked to play."),
])
def test_softslm_models_load_in_gpt2lmheadmodel(model_dir, text):
    hf = GPT2LMHeadModel.from_pretrained(model_dir).eval()
    assert hf.config.n_layer == json.load(open(os.path.join(model_dir, "config.json")))["n_layer"]
    check_scores_equal(model_dir, hf, text)
    # softslm's tokenizer.json is the one transformers' fast tokenizer loads
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(model_dir, "tokenizer.json"))
    ids, _ = score_json(model_dir, text)
    assert tok.encode(text) == ids[1:]


def test_a_model_softslm_train_writes_loads_in_transformers(tmp_path):
    out = tmp_path / "run"
    softslm("train", "--config", f"{SOURCE_DIR}/configs/train-sample.yaml", "--steps", "6",
            "-o", str(out), "-q", "--set", "eval_interval=3", "--set", "checkpoint_interval=6",
            "--set", f"data.train=[{SOURCE_DIR}/data/sample.txt]")
    assert (out / "model.safetensors").exists() and (out / "config.json").exists()
    hf = GPT2LMHeadModel.from_pretrained(str(out)).eval()
    check_scores_equal(str(out), hf, "The little dog ran to the park and found a red ball.")


@pytest.fixture(scope="module")
def hf_random(tmp_path_factory):
    """A small random GPT-2 saved by transformers itself, with GPT2Config's defaults
    (bos/eos 50256, dropout 0.1, ...) and the sample model's tokenizer saved by transformers."""
    d = str(tmp_path_factory.mktemp("hf") / "gpt2-tiny")
    torch.manual_seed(0)
    # the tokenizer's own size: softslm never samples ids no token owns (a padded vocabulary's
    # rows), transformers' generate would
    n_ids = len(json.load(open(os.path.join(SAMPLE, "tokenizer.json")))["model"]["vocab"])
    cfg = GPT2Config(vocab_size=n_ids, n_positions=128, n_embd=64, n_layer=3, n_head=4)
    model = GPT2LMHeadModel(cfg).eval()
    with torch.no_grad():  # weights larger than the 0.02 init, so the outputs are not flat
        for p in model.parameters():
            p.mul_(4.0 if p.dim() > 1 else 1.0)
    model.save_pretrained(d, safe_serialization=True)
    tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(SAMPLE, "tokenizer.json"),
                                  eos_token="<|endoftext|>")
    tok.save_pretrained(d)
    assert os.path.exists(os.path.join(d, "model.safetensors"))
    return d, model


def test_save_pretrained_loads_in_softslm_with_the_same_logprobs(hf_random):
    d, model = hf_random
    assert json.load(open(os.path.join(d, "config.json")))["bos_token_id"] == 50256
    diff = check_scores_equal(d, model, "Once upon a time, there was a little girl named Lily.")
    print(f"save_pretrained -> softslm: max |diff| {diff:.2e}")


def test_save_pretrained_greedy_continuation_equals_transformers(hf_random):
    d, model = hf_random
    prompt = "Once upon a time"
    out = softslm("generate", "-m", d, "--prompt", prompt, "--max-new-tokens", "12",
                  "--temperature", "0", "--json").stdout
    j = json.loads(out)
    got = j["tokens"]
    ids, _ = score_json(d, prompt)
    ids = ids[1:]  # generate decodes from the prompt as it is (no <|endoftext|> first)
    assert j["n_prompt_tokens"] == len(ids)
    assert len(set(got)) > 1  # not a flat model repeating one token
    with torch.no_grad():
        want = model.generate(torch.tensor([ids]), max_new_tokens=12, do_sample=False,
                              eos_token_id=None, pad_token_id=0)[0, len(ids):].tolist()
    assert got == want


def test_untied_lm_head_is_refused_by_name(tmp_path):
    cfg = GPT2Config(vocab_size=1024, n_positions=32, n_embd=32, n_layer=1, n_head=2,
                     tie_word_embeddings=False)
    d = str(tmp_path / "untied")
    GPT2LMHeadModel(cfg).save_pretrained(d)
    shutil.copy(os.path.join(SAMPLE, "tokenizer.json"), d)
    r = softslm("score", "-m", d, "--text", "hi", check=False)
    assert r.returncode != 0
    assert "tie_word_embeddings" in r.stderr and len(r.stderr.strip().splitlines()) == 1
