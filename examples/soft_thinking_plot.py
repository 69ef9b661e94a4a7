#!/usr/bin/env python3
"""Soft thinking, step by step, from Python: generate with soft thinking, then plot the
entropy of every step and the concept tokens' weights (the top-K of each thinking step).

    make                                          # builds build/python/softslm
    PYTHONPATH=build/python python3 examples/soft_thinking_plot.py [--model models/cot]
        [--prompt "56*78="] [--out soft_thinking.png]

Needs numpy and matplotlib (Debian's python3-numpy, python3-matplotlib: scripts/setup
--with-python installs them). Writes one PNG and prints what it shows.
"""
import argparse

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt
import numpy as np

import softslm

ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ap.add_argument("--model", default="models/cot")
ap.add_argument("--prompt", default="56*78=")
ap.add_argument("--out", default="soft_thinking.png")
ap.add_argument("--seed", type=int, default=1)
a = ap.parse_args()

# %% generate with a trace: one record per step (phase, emitted token, entropy, concept)
m = softslm.Model.load(a.model)
inputs = []  # the vector fed after each step, seen through the hook (its norm is plotted)
r = m.generate(a.prompt, max_new_tokens=200, soft_thinking={"max_topk": 5}, seed=a.seed,
               trace=True, on_step=lambda rec, vec: inputs.append(
                   np.nan if vec is None else float(np.linalg.norm(vec))))[0]
print(f"{a.prompt} -> {r.answer!r} ({r.soft_steps} soft steps, thinking ended by {r.think_end})")

# %% entropy over steps, the emitted token under each step; concept weights as a heatmap
steps = r.trace
K = max(len(s["ids"]) for s in steps)
W = np.zeros((K, len(steps)))
for j, s in enumerate(steps):
    W[: len(s["weights"]), j] = s["weights"]
fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(max(8, len(steps) * 0.22), 6), sharex=True,
                               gridspec_kw={"height_ratios": [1, 1.2]})
x = np.arange(len(steps))
ax1.plot(x, r.entropy, marker=".", color="#2b6cb0")
ax1.fill_between(x, 0, r.entropy.max() * 1.05, where=r.thinking_mask, color="#edf2f7",
                 step="mid", label="thinking (concept tokens fed)")
ax1.set_ylabel("entropy (nats)")
ax1.set_title(f"{a.prompt} -> {r.answer}   ({a.model}, soft thinking, max_topk 5)")
ax1.legend(loc="upper right")
im = ax2.imshow(W, aspect="auto", cmap="Blues", vmin=0, vmax=1, interpolation="nearest")
for j, s in enumerate(steps):  # the candidates' text in the cells
    for k, (i, w) in enumerate(zip(s["ids"], s["weights"])):
        if w >= 0.05:
            ax2.text(j, k, m.decode([int(i)]).replace("\n", "\\n"), ha="center", va="center",
                     fontsize=6, color="white" if w > 0.6 else "black")
ax2.set_ylabel("concept entry (top-K)")
ax2.set_xlabel("step (emitted token below)")
ax2.set_xticks(x)
ax2.set_xticklabels([s["text"].replace("\n", "\\n") for s in steps], fontsize=6)
fig.colorbar(im, ax=ax2, label="weight", fraction=0.02)
fig.tight_layout()
fig.savefig(a.out, dpi=120)
hedged = [(j, s["text"]) for j, s in enumerate(steps) if s["soft"] and s["weights"][0] < 0.9]
print(f"wrote {a.out}: {len(steps)} steps, {len(hedged)} concepts with top weight < 0.9"
      f"{': ' + ', '.join(f'step {j} ({t})' for j, t in hedged[:8]) if hedged else ''}")
