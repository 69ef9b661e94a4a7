#!/usr/bin/env python3
"""softslm serve under load, against softslm eval's in-process batched decode, on one machine
in one run (make bench-server).

For each concurrency C (default 1, 8, 32, 128) it starts C client threads that send greedy
completion requests for the prompts of a task set, one after another, until every prompt
has been answered once; it reports completion tokens per second (all clients together) and
the p50 / p99 request latency. Then `softslm eval --batch B` decodes the same prompts in
process (greedy) and the ratio says how much of that throughput the server keeps. Standard
library only (the clients share the machine's cores with the server: on a 2-core machine they
cost it a little).

  bench/server_load.py [--softslm build/softslm] [--model models/cot] [--task mul] [--n 256]
                       [--concurrency 1,8,32,128] [--json]
"""
import argparse
import http.client
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time


def start_server(binary, model, max_batch):
    p = subprocess.Popen([binary, "serve", "-m", model, "--port", "0", "--max-batch", str(max_batch),
                          "--max-queue", "512"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                         text=True)
    line = p.stdout.readline()
    if not line.startswith("listening on http://"):
        sys.exit(f"server_load: the server did not start: {line!r}")
    port = int(line.strip().rsplit(":", 1)[1])
    return p, port


def load(port, prompts, concurrency, max_tokens):
    """All prompts answered once by `concurrency` clients; returns (tokens, seconds, latencies)."""
    next_i = [0]
    lock = threading.Lock()
    lat, toks, errors = [], [0], []

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        while True:
            with lock:
                if next_i[0] >= len(prompts):
                    return
                i = next_i[0]
                next_i[0] += 1
            body = json.dumps({"prompt": prompts[i], "max_tokens": max_tokens, "temperature": 0})
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/v1/completions", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = json.loads(r.read())
            except (OSError, http.client.HTTPException) as e:  # reconnect once, then count it
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
                errors.append(repr(e))
                continue
            dt = time.perf_counter() - t0
            if r.status != 200:
                errors.append(f"{r.status}: {data}")
                continue
            with lock:
                lat.append(dt)
                toks[0] += data["usage"]["completion_tokens"]

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    secs = time.perf_counter() - t0
    if errors:
        sys.exit(f"server_load: {len(errors)} failed requests, e.g. {errors[0]}")
    return toks[0], secs, lat


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--softslm", default="build/softslm")
    ap.add_argument("--model", default="models/cot")
    ap.add_argument("--task", default="mul")
    ap.add_argument("--n", type=int, default=256)
    ap.add_argument("--concurrency", default="1,8,32,128")
    ap.add_argument("--max-tokens", type=int, default=160)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    conc = [int(c) for c in a.concurrency.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "prompts.jsonl")
        subprocess.run([a.softslm, "data", "--task", a.task, "--n", str(a.n), "--split", "test",
                        "--seed", "777", "--out", data], check=True, capture_output=True)
        rows = [json.loads(l) for l in open(data)]
        prompts = [r["prompt"] for r in rows]
        results = []
        server, port = start_server(a.softslm, a.model, max(conc))
        try:
            load(port, prompts[:8], 4, a.max_tokens)  # warm-up
            for c in conc:
                tokens, secs, lat = load(port, prompts, c, a.max_tokens)
                results.append({"concurrency": c, "tokens_per_s": tokens / secs,
                                "p50_s": statistics.median(lat), "p99_s": pct(lat, 0.99),
                                "requests": len(lat), "tokens": tokens})
        finally:
            server.terminate()
            server.wait()
        # in process: softslm eval's batched greedy decode of the same prompts
        inproc = {}
        for b in sorted({min(c, 64) for c in conc if c >= 8} | {32}):
            out = os.path.join(tmp, f"eval{b}")
            subprocess.run([a.softslm, "eval", "-m", a.model, "--data", data, "--decode", "greedy",
                            "--batch", str(b), "--max-new-tokens", str(a.max_tokens), "-q",
                            "-o", out], check=True, capture_output=True)
            inproc[b] = json.load(open(os.path.join(out, "summary.json")))[0]["tokens_per_s"]
    if a.json:
        print(json.dumps({"server": results, "eval_tokens_per_s": inproc}, indent=1))
        return
    print(f"model {a.model}, task {a.task}, {a.n} prompts, greedy, max_tokens {a.max_tokens}")
    print(f"{'streams':>8} {'tokens/s':>10} {'p50 s':>8} {'p99 s':>8}")
    for r in results:
        print(f"{r['concurrency']:>8} {r['tokens_per_s']:>10.0f} {r['p50_s']:>8.3f} {r['p99_s']:>8.3f}")
    for b, t in inproc.items():
        print(f"softslm eval --batch {b}: {t:.0f} tokens/s in process")
    r32 = next((r for r in results if r["concurrency"] == 32), None)
    if r32 and 32 in inproc:
        print(f"server at 32 streams / eval --batch 32: {r32['tokens_per_s'] / inproc[32]:.2f}")


if __name__ == "__main__":
    main()
