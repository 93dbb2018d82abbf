#!/usr/bin/env bash
# A/B regression check of a change: builds COMMIT in a temporary worktree, then runs the same evaluation and one pruning
# step with both release builds, alternating, RUNS times each, on the benchmark model
# (Benchmarks/make_model.py writes .bench/opt-125m and .bench/data). Prints wall seconds per run and
# whether the outputs (metrics, masks) are byte-identical.
#   bash Benchmarks/ab.sh COMMIT [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
base="${1:?give the commit to compare against}"; runs="${2:-3}"
old="$(mktemp -d)/old"
git worktree add -f -q "$old" "$base"
trap 'git worktree remove --force "$old"' EXIT
(cd "$old" && swift build -c release >/dev/null)
swift build -c release >/dev/null
out="$(mktemp -d)"
for i in $(seq "$runs"); do
  for v in old new; do
    exe=.build/release/scalpel; [ $v = old ] && exe="$old/.build/release/scalpel"
    t0=$(date +%s.%N)
    "$exe" eval --model .bench/opt-125m --data forget=.bench/data/forget --context 512 --tokens 4096 --threads 2 \
      --json "$out/eval-$v.json" >/dev/null 2>&1
    t1=$(date +%s.%N)
    rm -rf "$out/run-$v"
    "$exe" prune --model .bench/opt-125m --forget .bench/data/forget --retain .bench/data/retain --context 512 \
      --collect-tokens 2048 --eval-tokens 2048 --steps 1 --ff-frac 0.02 --threads 2 --out "$out/run-$v" >/dev/null 2>&1
    t2=$(date +%s.%N)
    printf '%s  eval %6.2f s  prune step %6.2f s\n' $v "$(echo "$t1 - $t0" | bc)" "$(echo "$t2 - $t1" | bc)"
  done
done
python3 - "$out" <<'PY'
import json, sys
d = sys.argv[1]
metrics = lambda p: json.load(open(p))["datasets"]
print("eval metrics identical:", metrics(f"{d}/eval-old.json") == metrics(f"{d}/eval-new.json"))
print("masks identical:", open(f"{d}/run-old/masks.safetensors", "rb").read() == open(f"{d}/run-new/masks.safetensors", "rb").read())
PY
