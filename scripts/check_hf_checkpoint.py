#!/usr/bin/env python3
"""Checks that a softslm model directory is a Hugging Face GPT-2 checkpoint (stdlib only).

    scripts/check_hf_checkpoint.py MODEL_DIR

Verifies config.json (GPT2LMHeadModel keys and values softslm relies on) and the
model.safetensors header: tensor names, Conv1D shapes ([in, out]), float dtypes, and a data
buffer that the tensors cover exactly. Prints "ok: ..." and exits 0, or lists the problems
and exits 1. Does not need torch or transformers.
"""
import json
import os
import struct
import sys

DTYPE_SIZES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2}


def expected_shapes(cfg):
    V, T, C, L = cfg["vocab_size"], cfg["n_positions"], cfg["n_embd"], cfg["n_layer"]
    shapes = {"wte.weight": [V, C], "wpe.weight": [T, C], "ln_f.weight": [C], "ln_f.bias": [C]}
    for i in range(L):
        h = f"h.{i}."
        shapes.update({
            h + "ln_1.weight": [C], h + "ln_1.bias": [C],
            h + "attn.c_attn.weight": [C, 3 * C], h + "attn.c_attn.bias": [3 * C],
            h + "attn.c_proj.weight": [C, C], h + "attn.c_proj.bias": [C],
            h + "ln_2.weight": [C], h + "ln_2.bias": [C],
            h + "mlp.c_fc.weight": [C, 4 * C], h + "mlp.c_fc.bias": [4 * C],
            h + "mlp.c_proj.weight": [4 * C, C], h + "mlp.c_proj.bias": [C],
        })
    return shapes


def check_config(path, problems):
    with open(path, encoding="utf-8") as f:
        cfg = json.load(f)
    want = {"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"],
            "activation_function": "gelu_new", "tie_word_embeddings": True}
    for key, value in want.items():
        if cfg.get(key) != value:
            problems.append(f"{path}: {key} is {cfg.get(key)!r}, expected {value!r}")
    for key in ("vocab_size", "n_positions", "n_embd", "n_layer", "n_head"):
        if not isinstance(cfg.get(key), int) or isinstance(cfg.get(key), bool) or cfg[key] <= 0:
            problems.append(f"{path}: {key} must be a positive integer (got {cfg.get(key)!r})")
    if not problems and cfg["n_embd"] % cfg["n_head"]:
        problems.append(f"{path}: n_embd is not divisible by n_head")
    if cfg.get("n_inner") not in (None, 4 * cfg.get("n_embd", 0)):
        problems.append(f"{path}: n_inner must be null or 4 * n_embd")
    return cfg


def check_safetensors(path, cfg, problems):
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        if n > size - 8:
            problems.append(f"{path}: header length {n} runs past the end of the file")
            return
        header = json.loads(f.read(n))
    data_size = size - 8 - n
    header.pop("__metadata__", None)
    want = expected_shapes(cfg)
    for name in sorted(set(want) - set(header)):
        problems.append(f"{path}: missing tensor {name}")
    for name in sorted(set(header) - set(want)):
        problems.append(f"{path}: unexpected tensor {name}")
    spans = []
    for name, t in sorted(header.items()):
        if name in want and t["shape"] != want[name]:
            problems.append(f"{path}: {name} has shape {t['shape']}, expected {want[name]}")
        if t["dtype"] not in DTYPE_SIZES:
            problems.append(f"{path}: {name} has dtype {t['dtype']}, expected a float dtype")
            continue
        begin, end = t["data_offsets"]
        count = 1
        for d in t["shape"]:
            count *= d
        if end - begin != count * DTYPE_SIZES[t["dtype"]]:
            problems.append(f"{path}: {name} data_offsets do not match dtype x shape")
        spans.append((begin, end, name))
    pos = 0
    for begin, end, name in sorted(spans):
        if begin != pos:
            problems.append(f"{path}: {name} starts at {begin}, expected {pos} (gap or overlap)")
        pos = max(pos, end)
    if pos != data_size:
        problems.append(f"{path}: tensors cover {pos} of {data_size} data bytes")


def main():
    if len(sys.argv) != 2:
        print("usage: scripts/check_hf_checkpoint.py MODEL_DIR", file=sys.stderr)
        return 2
    model_dir = sys.argv[1]
    problems = []
    try:
        cfg = check_config(os.path.join(model_dir, "config.json"), problems)
        if not problems:
            check_safetensors(os.path.join(model_dir, "model.safetensors"), cfg, problems)
    except (OSError, ValueError, KeyError, TypeError, struct.error) as e:
        problems.append(f"{model_dir}: {type(e).__name__}: {e}")
    for p in problems:
        print(p, file=sys.stderr)
    if problems:
        return 1
    print(f"ok: {model_dir} is a GPT-2 checkpoint (n_layer={cfg['n_layer']}, n_embd={cfg['n_embd']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
