#!/usr/bin/env bash
# softslm against llama.cpp on the same model, same machine, same threads.
#
#   bench/vs_llamacpp.sh LLAMA_CPP_BUILD_DIR [MODEL_DIR]     (MODEL_DIR default: models/cot)
#
# Exports MODEL_DIR to GGUF (f32) in a temporary directory, then runs, alternately for 3 rounds,
#   $LLAMA/bin/llama-bench -m FILE -p 64 -n 64 -t 2 -o json   (prefill of 64 tokens, decode of 64)
#   build/softslm bench --model MODEL_DIR --json --no-train --threads 2 --decode-tokens 64
# and prints each round's decode and prefill tokens/s and the ratio softslm / llama.cpp.
# softslm's prefill is a whole-context prompt (n_ctx tokens), llama-bench's 64 tokens.
# Never downloads or builds llama.cpp: point it at a build you have. SOFTSLM=path overrides the
# softslm binary (default build/softslm), THREADS the thread count (default 2).
set -euo pipefail

usage() {
  echo "usage: $0 LLAMA_CPP_BUILD_DIR [MODEL_DIR]" >&2
  echo "  LLAMA_CPP_BUILD_DIR: a llama.cpp build holding bin/llama-bench (not downloaded or built here)" >&2
  exit 2
}
[ $# -ge 1 ] && [ $# -le 2 ] || usage
LLAMA=$1
MODEL=${2:-models/cot}
SOFTSLM=${SOFTSLM:-build/softslm}
THREADS=${THREADS:-2}
ROUNDS=3
if [ ! -x "$LLAMA/bin/llama-bench" ]; then
  echo "$0: error: $LLAMA/bin/llama-bench: not found (give the llama.cpp build directory)" >&2
  usage
fi
[ -x "$SOFTSLM" ] || { echo "$0: error: $SOFTSLM: not found (build softslm first)" >&2; exit 1; }
[ -d "$MODEL" ] || { echo "$0: error: $MODEL: no such model directory" >&2; exit 1; }

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
GGUF=$TMP/model.gguf
"$SOFTSLM" export --format gguf --model "$MODEL" -o "$GGUF" --dtype f32

# llama-bench's JSON: one object per test; pp64 has n_gen 0, tg64 has n_prompt 0
llama_tps() {  # $1 = json file, $2 = pp|tg
  python3 -c 'import json, sys
for t in json.load(open(sys.argv[1])):
    if (sys.argv[2] == "pp" and t["n_gen"] == 0) or (sys.argv[2] == "tg" and t["n_prompt"] == 0):
        print(t["avg_ts"])' "$1" "$2"
}
json_key() {  # $1 = json file, $2 = key
  python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$1" "$2"
}

printf '%-6s %12s %12s %8s   %12s %12s %8s\n' round "decode ll" "decode ss" ratio \
  "prefill ll" "prefill ss" ratio
for r in $(seq 1 $ROUNDS); do
  "$LLAMA/bin/llama-bench" -m "$GGUF" -p 64 -n 64 -t "$THREADS" -o json > "$TMP/llama.json" \
    2> "$TMP/llama.err" || { cat "$TMP/llama.err" >&2; exit 1; }
  "$SOFTSLM" bench --model "$MODEL" --json --no-train --threads "$THREADS" --decode-tokens 64 \
    > "$TMP/softslm.json"
  ll_tg=$(llama_tps "$TMP/llama.json" tg)
  ll_pp=$(llama_tps "$TMP/llama.json" pp)
  ss_tg=$(json_key "$TMP/softslm.json" decode_tokens_per_s)
  ss_pp=$(json_key "$TMP/softslm.json" prefill_tokens_per_s)
  awk -v r="$r" -v a="$ll_tg" -v b="$ss_tg" -v c="$ll_pp" -v d="$ss_pp" 'BEGIN {
    printf "%-6s %12.1f %12.1f %7.2fx   %12.1f %12.1f %7.2fx\n", r, a, b, b / a, c, d, d / c }'
done
echo "(ll = llama.cpp llama-bench tg64 / pp64, ss = softslm bench; ratio = softslm / llama.cpp)"
