#!/usr/bin/env python3
"""How should the task model's vocabulary cover path node names? A measurement with the CLI.

For three vocabularies (the task model's character level, 259 ids; a byte-level BPE of 4,096
ids trained on path data with the GPT-2 pre-tokeniser; tokenizer train --names 3, one token per
lowercase name of 1-3 letters) it encodes a path set and reports, over every node-name
occurrence of prompts and chains of thought:
  single   the share of occurrences that are exactly one token (a concept can superpose them)
  clean    the share covered by whole tokens that hold nothing else (no glued space or '>')
  stable   the share of distinct names encoded the same way at every occurrence
and the tokens per example (prompt + completion), then the training cost of the task model's
architecture (configs/train-tasks.yaml's model) with each vocabulary: parameters, and the
seconds per example of a training step measured by a short `softslm train` run.

  python3 bench/node_tokens.py [--softslm build/softslm] [--n 2000] [--steps 12]
"""
import argparse
import bisect
import json
import os
import re
import subprocess
import sys
import tempfile


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **kw)


def encode(sl, tok, text, tmp):
    path = os.path.join(tmp, "text.txt")
    with open(path, "w") as f:
        f.write(text)
    out = run([sl, "tokenizer", "encode", "-t", tok, "--text-file", path]).stdout
    return json.loads(out)["pieces"]


def measure(pieces, text):
    # token boundaries as character offsets (texts are ASCII)
    starts, pos = [], 0
    for p in pieces:
        starts.append(pos)
        pos += len(p)
    assert pos == len(text), (pos, len(text))
    ends = [s + len(p) for s, p in zip(starts, pieces)]
    start_idx = {s: i for i, s in enumerate(starts)}
    end_idx = {e: i for i, e in enumerate(ends)}
    single = clean = total = 0
    forms = {}
    for m in re.finditer(r"[a-z]+", text):
        a, b = m.start(), m.end()
        total += 1
        i, j = start_idx.get(a), end_idx.get(b)
        if i is not None and j is not None:
            clean += 1
            single += i == j
            form = tuple(pieces[i:j + 1])
        else:  # the name shares a token with a neighbour: record the covering tokens
            i = bisect.bisect_right(starts, a) - 1 if i is None else i
            j = bisect.bisect_left(ends, b) if j is None else j
            form = ("~",) + tuple(pieces[i:j + 1])
        forms.setdefault(m.group(0), set()).add(form)
    stable = sum(1 for f in forms.values() if len(f) == 1) / len(forms)
    return single / total, clean / total, stable, len(forms)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--softslm", default="build/softslm")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    sl = os.path.abspath(args.softslm)
    tmp = tempfile.mkdtemp(prefix="node-tokens-")
    data = os.path.join(tmp, "path.jsonl")
    run([sl, "data", "--task", "path", "-n", str(args.n), "-o", data])
    rows = [json.loads(l) for l in open(data)]
    text = "\n".join(r["prompt"] + r["completion"] for r in rows)
    corpus = os.path.join(tmp, "corpus.txt")
    with open(corpus, "w") as f:
        f.write(text)
    toks = {}
    toks["bytes"] = os.path.join(tmp, "bytes.json")
    run([sl, "tokenizer", "train", "-i", corpus, "-v", "259", "-o", toks["bytes"]])
    toks["bpe4096"] = os.path.join(tmp, "bpe.json")
    run([sl, "tokenizer", "train", "-i", corpus, "-v", "4096", "-o", toks["bpe4096"]])
    toks["names3"] = os.path.join(tmp, "names.json")
    run([sl, "tokenizer", "train", "--names", "3", "-o", toks["names3"]])
    # the specials are one token each everywhere; measure the text between them
    plain = text.replace("<think>", "\n").replace("</think>", "\n").replace("<|endoftext|>", "\n")
    vocab = {"bytes": 259, "bpe4096": 4096, "names3": 18511}
    print("| vocabulary | ids | single-token names | clean | stable names | tokens / example "
          "| parameters | train s / example |")
    print("|---|---|---|---|---|---|---|---|")
    for name, tok in toks.items():
        pieces = encode(sl, tok, plain, tmp)
        single, clean, stable, n_names = measure(pieces, plain)
        per_example = len(encode(sl, tok, text, tmp)) / len(rows)
        cfg = os.path.join(tmp, name + ".yaml")
        with open(cfg, "w") as f:
            f.write("model: {vocab_size: %d, n_ctx: 256, n_embd: 256, n_layer: 6, n_head: 8}\n"
                    "tokenizer: {path: \"%s\"}\n"
                    "data: {train: [\"%s\"], completion_only_loss: true, align_documents: true}\n"
                    "batch_size: 16\nseq_len: 256\nsteps: %d\nwarmup_steps: 1\neval_interval: 0\n"
                    "eval_batches: 1\nlog_interval: 1\ncheckpoint_interval: 0\nout_dir: \"%s\"\n"
                    % (vocab[name], tok, data, args.steps, os.path.join(tmp, "run-" + name)))
        run([sl, "train", "-q", "--config", cfg])
        recs = [json.loads(l) for l in open(os.path.join(tmp, "run-" + name, "metrics.jsonl"))]
        tps = sorted(r["tokens_per_s"] for r in recs if r.get("type") == "train")[len(recs) // 4:]
        tok_s = sum(tps) / len(tps)
        params = (vocab[name] + 256) * 256 + 6 * (12 * 256 * 256 + 13 * 256) + 2 * 256
        # a row of 256 positions holds 256 / per_example examples (aligned packing)
        s_per_example = per_example / tok_s
        print("| %s | %d | %.1f %% | %.1f %% | %.1f %% of %d | %.1f | %.2fM | %.2f ms |"
              % (name, vocab[name], 100 * single, 100 * clean, 100 * stable, n_names, per_example,
                 params / 1e6, 1e3 * s_per_example))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
