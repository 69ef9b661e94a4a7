#!/usr/bin/env python3
"""Prints softslm's and PyTorch's figures side by side, one PyTorch column per file:
  compare.py SOFTSLM.json TORCH.json [TORCH2.json ...]
Each PyTorch column is named by its version and BLAS; the ratio is softslm / that column."""
import json
import sys

if len(sys.argv) < 3:
    sys.exit("usage: compare.py SOFTSLM.json TORCH.json [TORCH2.json ...]")
s = json.load(open(sys.argv[1]))
ts = [json.load(open(p)) for p in sys.argv[2:]]
rows = [("decode, greedy", "decode_tokens_per_s"),
        ("decode, soft thinking (max_topk 10)", "decode_soft_tokens_per_s"),
        ("training, 16 x 256 (fwd + bwd)", "train_tokens_per_s")]
for i, t in enumerate(ts):
    libs = ", ".join(t.get("blas_libraries", []))
    print(f"[{i + 1}] PyTorch {t['torch_version']} ({t.get('python', '?')}): BLAS "
          f"{t.get('blas_build', '?')} {libs}; 512^3 sgemm {t.get('sgemm_512_gflops', '?')} GFLOP/s")
head = f"{'tokens/s':38s} {'softslm':>10s}"
for i in range(len(ts)):
    head += f" {'PyTorch [' + str(i + 1) + ']':>13s} {'ratio':>7s}"
print(head)
for name, k in rows:
    line = f"{name:38s} {s[k]:10.0f}"
    for t in ts:
        line += f" {t[k]:13.0f} {s[k] / t[k]:6.1f}x"
    print(line)
