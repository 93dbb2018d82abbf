#!/usr/bin/env bash
# Runs every experiment behind docs/RESULTS.md and prints its tables.
#   bash Tools/experiments/results.sh [pair|smollm2|relearn|all]     (default: all)
# Needs a release build, the dropout pair (models/pair, committed; retrain: python3 Tools/experiments/train_demo.py),
# demo-data/ with demo-data/heldout/ (python3 Tools/experiments/train_demo.py --help) and, for smollm2, the GGUF
# that Tools/setup/setup.sh --demo fetches. Finished runs are kept under runs/results/ and not repeated;
# an interrupted run is resumed. Statistics are shared between runs through runs/results/stats-cache.
set -euo pipefail
cd "$(dirname "$0")/../.."
what=${1:-all}
exe=.build/release/scalpel
out=runs/results
cache=$out/stats-cache
mkdir -p "$out"

# run NAME ARGS...: one `scalpel prune` into runs/results/NAME, skipped when finished, resumed when interrupted
run() {
  local name=$1; shift
  local dir=$out/$name
  if [ -f "$dir/model/model.safetensors" ]; then return; fi
  if [ -f "$dir/history.json" ]; then
    "$exe" prune --resume "$dir" --stats-cache "$cache" > "$dir.log" 2>&1
  else
    rm -rf "$dir"
    "$exe" prune --out "$dir" --stats-cache "$cache" "$@" > "$dir.log" 2>&1
  fi
  echo "$name: $(grep 'Top1 Max' "$dir.log" || tail -1 "$dir.log")"
}

if [ "$what" = pair ] || [ "$what" = all ]; then
  [ -d demo-data/heldout/code ] || python3 Tools/experiments/train_demo.py --heldout-only
  for m in dropout no-dropout; do
    common=(--model models/pair/$m --forget demo-data/heldout/code --retain demo-data/heldout/prose
            --context 256 --collect-tokens 8192 --eval-tokens 8192 --steps 40)
    run pair-$m-ff-abs "${common[@]}"
    run pair-$m-ff-random "${common[@]}" --ff-metric random
    run pair-$m-attn-abs "${common[@]}" --ff-frac 0 --attn-frac 0.02
    run pair-$m-ff-abs-oneshot "${common[@]}" --no-recollect
    for metric in freq sqrt rms std mean; do
      run pair-$m-ff-$metric "${common[@]}" --ff-metric $metric
    done
    # the selective run again, stopped once forget top-1 has fallen by 60% (near its Top1 Max Δ;
    # its statistics all come from the cache): the model the relearning check fine-tunes
    run pair-$m-ff-abs-stop60 "${common[@]}" --stop-forget-drop 60
  done
fi

if [ "$what" = smollm2 ] || [ "$what" = all ]; then
  gguf=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
  [ -f "$gguf" ] || { echo "$gguf is missing: bash Tools/setup/setup.sh --demo" >&2; exit 1; }
  common=(--model "$gguf" --forget demo-data/code --retain demo-data/prose --context 512
          --collect-tokens 4096 --eval-tokens 4096 --steps 5)
  run smollm2-ff-abs "${common[@]}"
  run smollm2-ff-random "${common[@]}" --ff-metric random
  run smollm2-attn-abs "${common[@]}" --ff-frac 0 --attn-frac 0.02
  run smollm2-ff-abs-oneshot "${common[@]}" --no-recollect
  for metric in freq sqrt rms std mean; do
    run smollm2-ff-$metric "${common[@]}" --ff-metric $metric
  done
fi

if [ "$what" = relearn ] || [ "$what" = all ]; then
  for m in dropout no-dropout; do
    [ -f "$out/relearn-$m.json" ] || python3 Tools/experiments/relearn.py "$out/pair-$m-ff-abs-stop60" --json "$out/relearn-$m.json" | tee "$out/relearn-$m.log"
  done
fi

python3 Tools/experiments/results_table.py "$out"
