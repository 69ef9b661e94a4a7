#!/usr/bin/env python3
"""Prints softslm's and PyTorch's figures side by side: compare.py SOFTSLM.json TORCH.json"""
import json
import sys

s, t = (json.load(open(p)) for p in sys.argv[1:3])
rows = [("decode, greedy", "decode_tokens_per_s", "decode_tokens_per_s"),
        ("decode, soft thinking (max_topk 10)", "decode_soft_tokens_per_s", "decode_soft_tokens_per_s"),
        ("training, 16 x 256 (fwd + bwd)", "train_tokens_per_s", "train_tokens_per_s")]
print(f"{'tokens/s':38s} {'softslm':>10s} {'PyTorch':>10s} {'ratio':>7s}")
for name, ks, kt in rows:
    print(f"{name:38s} {s[ks]:10.0f} {t[kt]:10.0f} {s[ks] / t[kt]:6.1f}x")
