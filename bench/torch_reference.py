#!/usr/bin/env python3
"""The same GPT-2 and the same soft-thinking step in plain PyTorch eager, what a researcher
would write first, side by side with softslm.

  python3 bench/torch_reference.py --parity --model models/sample [--softslm build/softslm]
      loads softslm's checkpoint (config.json + model.safetensors, read with the standard
      library), scores a text with it and checks the per-token log-probabilities against
      `softslm score` (max abs difference <= 1e-4); exit 1 on a mismatch.
  python3 bench/torch_reference.py --bench [--threads 2] [--json]
      times the reference configuration (256-d, 6 layers, 8 heads, context 256, vocab 4096):
      single-stream decode with a KV cache (greedy and soft thinking, max_topk 10) and a
      training step (forward + backward) on a 16 x 256 batch.

Needs python3-torch (scripts/setup --with-torch). `make bench-torch` runs both sides.
"""
import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import time

import torch
import torch.nn.functional as F


def load_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    base = 8 + n
    dtypes = {"F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16}
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[base + b : base + e]), dtype=dtypes[info["dtype"]])
        out[name.removeprefix("transformer.")] = t.reshape(info["shape"]).float()
    return out


class GPT2(torch.nn.Module):
    def __init__(self, cfg, weights=None):
        super().__init__()
        self.cfg = cfg
        C, L, V, T = cfg["n_embd"], cfg["n_layer"], cfg["vocab_size"], cfg["n_positions"]
        g = torch.Generator().manual_seed(0)
        def p(*shape, std=0.02, w=None):
            t = w.clone() if w is not None else torch.randn(*shape, generator=g) * std
            return torch.nn.Parameter(t)
        W = weights or {}
        self.wte = p(V, C, w=W.get("wte.weight"))
        self.wpe = p(T, C, std=0.01, w=W.get("wpe.weight"))
        self.h = torch.nn.ModuleList()
        for i in range(L):
            blk = torch.nn.Module()
            pre = f"h.{i}."
            blk.ln1_w = p(C, w=W.get(pre + "ln_1.weight", torch.ones(C)))
            blk.ln1_b = p(C, w=W.get(pre + "ln_1.bias", torch.zeros(C)))
            blk.attn_w = p(C, 3 * C, w=W.get(pre + "attn.c_attn.weight"))
            blk.attn_b = p(3 * C, w=W.get(pre + "attn.c_attn.bias", torch.zeros(3 * C)))
            blk.proj_w = p(C, C, w=W.get(pre + "attn.c_proj.weight"))
            blk.proj_b = p(C, w=W.get(pre + "attn.c_proj.bias", torch.zeros(C)))
            blk.ln2_w = p(C, w=W.get(pre + "ln_2.weight", torch.ones(C)))
            blk.ln2_b = p(C, w=W.get(pre + "ln_2.bias", torch.zeros(C)))
            blk.fc_w = p(C, 4 * C, w=W.get(pre + "mlp.c_fc.weight"))
            blk.fc_b = p(4 * C, w=W.get(pre + "mlp.c_fc.bias", torch.zeros(4 * C)))
            blk.fcp_w = p(4 * C, C, w=W.get(pre + "mlp.c_proj.weight"))
            blk.fcp_b = p(C, w=W.get(pre + "mlp.c_proj.bias", torch.zeros(C)))
            self.h.append(blk)
        self.lnf_w = p(C, w=W.get("ln_f.weight", torch.ones(C)))
        self.lnf_b = p(C, w=W.get("ln_f.bias", torch.zeros(C)))

    def forward(self, x, pos0=0, past=None):
        """x: [B, T, C] input embeddings (token or concept), positions pos0.. ; past: KV list."""
        cfg = self.cfg
        B, T, C = x.shape
        nh, eps = cfg["n_head"], cfg.get("layer_norm_epsilon", 1e-5)
        x = x + self.wpe[pos0 : pos0 + T]
        new_past = []
        for i, blk in enumerate(self.h):
            a = F.layer_norm(x, (C,), blk.ln1_w, blk.ln1_b, eps)
            q, k, v = (a @ blk.attn_w + blk.attn_b).split(C, dim=2)
            q, k, v = (t.view(B, T, nh, C // nh).transpose(1, 2) for t in (q, k, v))
            if past is not None:
                k = torch.cat([past[i][0], k], dim=2)
                v = torch.cat([past[i][1], v], dim=2)
            new_past.append((k, v))
            att = (q @ k.transpose(-2, -1)) / math.sqrt(C // nh)
            S = k.shape[2]
            mask = torch.ones(T, S, dtype=torch.bool).tril(diagonal=S - T)
            att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
            y = (att @ v).transpose(1, 2).reshape(B, T, C)
            x = x + (y @ blk.proj_w + blk.proj_b)
            m = F.layer_norm(x, (C,), blk.ln2_w, blk.ln2_b, eps)
            m = F.gelu(m @ blk.fc_w + blk.fc_b, approximate="tanh")
            x = x + (m @ blk.fcp_w + blk.fcp_b)
        x = F.layer_norm(x, (C,), self.lnf_w, self.lnf_b, eps)
        return x @ self.wte.T, new_past


def soft_step(logits, wte, max_topk=10, temperature=0.6, top_k=30, top_p=0.95, min_p=0.001):
    """The reference sampler's thinking row: filtered top-K concept -> weighted embedding."""
    p = torch.softmax(logits / temperature, dim=-1)
    entropy = -(p * p.clamp(min=1e-12).log()).sum(-1)
    v, i = p.topk(top_k, dim=-1)
    p = torch.zeros_like(p).scatter(-1, i, v)
    p = p / p.sum(-1, keepdim=True)
    sp, si = p.sort(dim=-1, descending=True)
    keep = (sp.cumsum(-1) - sp) < top_p
    p = torch.zeros_like(p).scatter(-1, si, sp * keep)
    p = p.masked_fill(p < min_p * p.max(-1, keepdim=True).values, 0)
    p = p / p.sum(-1, keepdim=True)
    w, idx = p.topk(max_topk, dim=-1)
    w = w / w.sum(-1, keepdim=True)
    return (w.unsqueeze(-1) * wte[idx]).sum(-2), idx[..., 0], entropy


def parity(args):
    cfg = json.load(open(f"{args.model}/config.json"))
    cfg.setdefault("n_positions", cfg.get("n_ctx"))
    model = GPT2(cfg, load_safetensors(f"{args.model}/model.safetensors"))
    text = args.text
    enc = json.loads(subprocess.run([args.softslm, "tokenizer", "encode", "--tokenizer", args.model,
                                     "--text", text], check=True, capture_output=True).stdout)
    score = json.loads(subprocess.run([args.softslm, "score", "--model", args.model, "--text", text],
                                      check=True, capture_output=True).stdout)
    ids = [cfg["eos_token_id"]] + enc["ids"]
    with torch.no_grad():
        logits, _ = model(model.wte[torch.tensor(ids)].unsqueeze(0))
        lp = torch.log_softmax(logits[0].double(), dim=-1)
    ours = [t["logprob"] for t in score["tokens"]]
    theirs = [lp[t, ids[t + 1]].item() for t in range(len(ids) - 1)]
    diff = max(abs(a - b) for a, b in zip(ours, theirs))
    ok = len(ours) == len(theirs) and diff <= 1e-4
    print(f"parity: {len(ours)} tokens, max |logprob difference| = {diff:.3g} "
          f"({'ok' if ok else 'MISMATCH'})")
    return 0 if ok else 1


def blas_in_use():
    """The BLAS torch's matrix products run on: the library loaded in this process after one
    (Debian's torch links libblas.so.3, which update-alternatives points at the reference BLAS
    or OpenBLAS; PyPI's wheel carries MKL), with torch's build setting and a GFLOP/s figure."""
    a = torch.randn(512, 512)
    a @ a
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path).lower()
            # CPU BLAS libraries only: not cuBLAS (loaded by PyPI's CUDA build, unused on the
            # CPU) nor numpy's own OpenBLAS (numpy's products, not torch's)
            if (any(k in name for k in ("blas", "mkl", "lapack")) and ".so" in name
                    and "cublas" not in name and "numpy" not in path):
                libs.add(os.path.realpath(path))
    build = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show())
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.3:
        a @ a
        n += 1
    gflops = n * 2 * 512 ** 3 / (time.perf_counter() - t0) / 1e9
    return {"blas_build": build.group(1) if build else "unknown",
            "blas_libraries": sorted(libs) or ["(linked into libtorch_cpu)"],
            "sgemm_512_gflops": round(gflops, 1)}


def bench(args):
    torch.set_num_threads(args.threads)
    blas = blas_in_use()
    print(f"PyTorch {torch.__version__} ({sys.executable}): BLAS {blas['blas_build']}, "
          f"{', '.join(blas['blas_libraries'])}; 512^3 sgemm {blas['sgemm_512_gflops']} GFLOP/s "
          f"on {args.threads} threads", file=sys.stderr)
    cfg = {"vocab_size": 4096, "n_positions": 256, "n_embd": 256, "n_layer": 6, "n_head": 8}
    model = GPT2(cfg)
    T, reps = cfg["n_positions"], args.repeats
    def median(f):
        f()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            f()
            ts.append(time.perf_counter() - t0)
        return sorted(ts)[len(ts) // 2]
    n_dec = T - 1
    def decode(soft):
        with torch.no_grad():
            x = model.wte[torch.tensor([[0]])]
            past = None
            for pos in range(n_dec):
                logits, past = model(x, pos, past)
                if soft:
                    e, _, _ = soft_step(logits[:, -1], model.wte)
                    x = e.unsqueeze(1)
                else:
                    x = model.wte[logits[:, -1].argmax(-1)].unsqueeze(1)
    t_greedy = median(lambda: decode(False))
    t_soft = median(lambda: decode(True))
    B = 16
    ids = torch.randint(0, cfg["vocab_size"], (B, T + 1), generator=torch.Generator().manual_seed(1))
    def train_step():
        logits, _ = model(model.wte[ids[:, :-1]])
        loss = F.cross_entropy(logits.reshape(-1, cfg["vocab_size"]), ids[:, 1:].reshape(-1))
        model.zero_grad(set_to_none=True)
        loss.backward()
    t_train = median(train_step)
    res = {"torch_version": torch.__version__, "python": sys.executable, **blas,
           "threads": args.threads,
           "decode_tokens_per_s": n_dec / t_greedy, "decode_soft_tokens_per_s": n_dec / t_soft,
           "train_tokens_per_s": B * T / t_train}
    if args.json:
        print(json.dumps(res))
    else:
        print(f"PyTorch {torch.__version__} eager, {args.threads} threads, reference config")
        print(f"  decode greedy            {res['decode_tokens_per_s']:10.0f} tokens/s")
        print(f"  decode soft (max_topk 10) {res['decode_soft_tokens_per_s']:9.0f} tokens/s")
        print(f"  training (fwd+bwd) 16x256 {res['train_tokens_per_s']:9.0f} tokens/s")
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--parity", action="store_true")
    ap.add_argument("--bench", action="store_true")
    ap.add_argument("--model", default="models/sample")
    ap.add_argument("--softslm", default="build/softslm")
    ap.add_argument("--text", default="Once upon a time, a little girl named Lily found a red ball.")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not (args.parity or args.bench):
        ap.error("give --parity and/or --bench")
    rc = 0
    if args.parity:
        rc |= parity(args)
    if args.bench:
        rc |= bench(args)
    return rc


if __name__ == "__main__":
    sys.exit(main())
