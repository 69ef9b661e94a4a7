"""softslm from Python: load a model, generate (with Soft Thinking), score, train, evaluate.

    import softslm
    m = softslm.Model.load("models/cot")
    r = m.generate("4528+734=", max_new_tokens=100, soft_thinking=True, seed=1)[0]
    r.answer, r.thinking, r.soft_steps, r.entropy        # entropy: numpy float32 [tokens]

Hooks: ``on_step(record, vec)`` is called after every generated step with the step's record
(a dict: step, thinking, soft, token, text, entropy, ids, weights, switch) and ``vec``, the
numpy float32 [n_embd] vector the model is fed next (a view of softslm's own buffer: change it
in place, or return a new array, to feed something else). Arrays are numpy; errors raise
softslm.Error with softslm's one-line message. The compute runs with the GIL released.

Built by CMake into build/python/softslm (make; then PYTHONPATH=build/python), or installed
with ``pip install .`` from a checkout.
"""
import json as _json
from dataclasses import dataclass, field

import numpy as _np

from . import _softslm
from ._softslm import Error

__all__ = ["Model", "Result", "Error", "train", "eval"]


def _text(b):
    return b.decode("utf-8", errors="replace")


@dataclass
class Result:
    """One generated sequence."""
    text: str                 # everything generated (thinking, </think>, answer), eos excluded
    thinking: str             # the thinking phase's tokens (the end tag excluded)
    answer: str               # after thinking (everything, in plain decoding), up to eos
    tokens: _np.ndarray       # int32 [n] emitted ids (eos included when produced)
    entropy: _np.ndarray      # float32 [n] nats
    thinking_mask: _np.ndarray  # bool [n]: sampled in the thinking phase
    prompt_tokens: list
    soft_steps: int           # concept tokens fed
    think_end: str            # end_tag | cold_stop | budget | entropy_gate | latent_steps | ""
    stop_reason: str          # eos | max_new_tokens | context | after_cold_stop | non_finite
    mode: str                 # off | think_tags | entropy_gate | latent
    trace: list = field(default_factory=list)  # with trace=True: a record per step
    error: str = ""


def _record(d):
    d = dict(d)
    d["text"] = _text(d["text"])
    d["ids"] = _np.asarray(d["ids"], dtype=_np.int32)
    d["weights"] = _np.asarray(d["weights"], dtype=_np.float32)
    return d


class Model:
    """A Hugging Face GPT-2 directory loaded for inference (weights packed once)."""

    def __init__(self, core):
        self._m = core

    @staticmethod
    def load(dir, dtype="f32"):
        """dtype: "f32", or "bf16" (bfloat16 copies of the weights: faster, logits ~1e-3 off)."""
        return Model(_softslm.Model.load(str(dir), dtype))

    @property
    def config(self):
        return self._m.config

    @property
    def decoding(self):
        """The model's soft_thinking.yaml (the decoding it was trained for), or None."""
        return self._m.decoding

    @property
    def eos_id(self):
        return self._m.eos_id

    def encode(self, text, allow_special=True):
        return self._m.encode(text, allow_special)

    def decode(self, ids):
        return _text(self._m.decode([int(i) for i in ids]))

    def generate(self, prompts, *, max_new_tokens=128, temperature=1.0, top_k=0, top_p=1.0,
                 min_p=0.0, seed=0, soft_thinking=None, on_step=None, trace=False):
        """Decodes prompts (a string, token ids, or a list of them) as one batch; prompt i draws
        from seed + i. soft_thinking: None (the model's own decoding, plain when it has none),
        False, True, or a dict of configs/soft-thinking.yaml keys (nested or dotted)."""
        single = isinstance(prompts, str) or (len(prompts) > 0 and isinstance(prompts[0], int))
        plist = [prompts] if single else list(prompts)
        plist = [p if isinstance(p, str) else [int(t) for t in p] for p in plist]
        hook = None
        if on_step is not None:
            def hook(rec, view):
                vec = None if view is None else _np.frombuffer(view, dtype=_np.float32)
                new = on_step(_record(rec), vec)
                if new is not None and vec is not None:
                    new = _np.asarray(new, dtype=_np.float32)
                    if new.shape != vec.shape:
                        raise ValueError(f"on_step returned shape {new.shape}; the input is {vec.shape}")
                    vec[:] = new
        params = dict(max_new_tokens=int(max_new_tokens), temperature=float(temperature),
                      top_k=int(top_k), top_p=float(top_p), min_p=float(min_p), seed=int(seed))
        out = []
        for d in self._m.generate(plist, params, soft_thinking, hook, bool(trace)):
            out.append(Result(
                text=_text(d["text"]), thinking=_text(d["thinking"]), answer=_text(d["answer"]),
                tokens=_np.asarray(d["tokens"], dtype=_np.int32),
                entropy=_np.frombuffer(d["entropy"], dtype=_np.float32).copy(),
                thinking_mask=_np.asarray(d["thinking_mask"], dtype=bool),
                prompt_tokens=d["prompt_tokens"], soft_steps=d["soft_steps"],
                think_end=d["think_end"], stop_reason=d["stop_reason"], mode=d["mode"],
                trace=[_record(r) for r in d.get("trace", [])], error=d.get("error", "")))
        return out

    def logits(self, ids):
        """float32 [len(ids), vocab_size]: the next-token logits after every position."""
        buf, n, v = self._m.logits([int(i) for i in ids])
        return _np.frombuffer(buf, dtype=_np.float32).reshape(n, v).copy()

    def score(self, text, bos=True):
        """Per-token log-probabilities of text (as softslm score): tokens, logprobs (float64
        numpy), total_logprob, mean_nll, perplexity. bos: <|endoftext|> opens the document."""
        ids = ([self.eos_id] if bos else []) + self.encode(text)
        if len(ids) < 2:
            raise Error("text has no token to score")
        lg = self.logits(ids).astype(_np.float64)[:-1]
        lg -= lg.max(axis=1, keepdims=True)
        lp = lg[_np.arange(len(ids) - 1), ids[1:]] - _np.log(_np.exp(lg).sum(axis=1))
        total = float(lp.sum())
        return dict(tokens=ids[1:], logprobs=lp, total_logprob=total,
                    mean_nll=-total / len(lp), perplexity=float(_np.exp(-total / len(lp))))


def train(config, overrides=None, progress=None, quiet=True):
    """Trains as softslm train --config CONFIG --set k=v ...; overrides: a dict (or list of
    "k=v"). progress(step, loss, val_loss) after every step (val_loss None when not evaluated);
    returning False stops the run (checkpoint saved). Returns out_dir, losses, val_losses, ..."""
    sets = []
    if isinstance(overrides, dict):
        for k, v in overrides.items():
            if isinstance(v, bool):
                v = "true" if v else "false"
            elif isinstance(v, (list, tuple)):
                v = "[" + ",".join(str(x) for x in v) + "]"
            sets.append(f"{k}={v}")
    elif overrides:
        sets = list(overrides)
    return _softslm.train(str(config), sets, progress, bool(quiet))


def eval(model, tasks=("add",), n=20, decode=("greedy",), split="test", data_seed=12345,
         seed=0, samples=1, max_new_tokens=1000, dtype="f32"):
    """softslm eval on generated task sets: a list with, per decoding configuration, its
    metrics per task (pass1, passk, mean thinking tokens, ...) as summary.json holds them."""
    if isinstance(tasks, str):
        tasks = [tasks]
    if isinstance(decode, str):
        decode = [decode]
    return _json.loads(_softslm.eval(str(model), list(tasks), int(n), list(decode), split,
                                     int(data_seed), int(seed), int(samples),
                                     int(max_new_tokens), dtype))
