#!/usr/bin/env bash
# Runs every experiment behind docs/RESULTS.md and prints its tables.
#   bash Tools/experiments/results.sh [pair|smollm2|relearn|vit|mlm|neox|dropout|all]     (default: all)
#   (dropout: only the runs claim (c) compares, on the OPT pair and the NeoX pair)
# Needs a release build, the dropout pair (models/pair, committed; retrain: python3 Tools/experiments/train_demo.py),
# demo-data/ with demo-data/heldout/ (python3 Tools/experiments/train_demo.py --help) and, for smollm2, the GGUF
# that Tools/setup/setup.sh --demo fetches. vit: models/vit-fashion (committed) and Debian's dataset-fashion-mnist;
# mlm: models/mlm (committed); neox: models/pair-neox (python3 Tools/experiments/train_demo.py --arch neox). Finished runs are kept under runs/results/ and not repeated;
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

# the held-out code and prose both dropout pairs are measured on, and the run length claim (c) compares
pair_data=(--forget demo-data/heldout/code --retain demo-data/heldout/prose --context 256
           --collect-tokens 8192 --eval-tokens 8192 --steps 40)

# dropout_runs PREFIX DIR: the three runs claim (c) compares on one pair (DIR/dropout, DIR/no-dropout):
# FF selective, FF random, attention neurons selective, 2% per step
dropout_runs() {
  local prefix=$1 dir=$2 m
  [ -d demo-data/heldout/code ] || python3 Tools/experiments/train_demo.py --heldout-only
  for m in dropout no-dropout; do
    run $prefix-$m-ff-abs --model $dir/$m "${pair_data[@]}"
    run $prefix-$m-ff-random --model $dir/$m "${pair_data[@]}" --ff-metric random
    run $prefix-$m-attn-abs --model $dir/$m "${pair_data[@]}" --ff-frac 0 --attn-frac 0.02
  done
}

if [ "$what" = pair ] || [ "$what" = all ]; then
  dropout_runs pair models/pair
  for m in dropout no-dropout; do
    common=(--model models/pair/$m "${pair_data[@]}")
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

if [ "$what" = vit ] || [ "$what" = all ]; then
  # class unlearning: forget one class, retain the other nine; statistics on training images, measured on test images.
  # 4% of the neurons per step, 23 steps (92%): this ViT loses little even at half its FF neurons gone
  [ -f demo-data/fashion-mnist/test/.complete ] || python3 Tools/data/fashion_mnist_folders.py
  for c in trouser shirt bag; do
    common=(--model models/vit-fashion --forget demo-data/fashion-mnist/train --retain demo-data/fashion-mnist/train
            --forget-classes $c --eval-folder demo-data/fashion-mnist/test --collect-tokens 1000 --eval-tokens 1000 --steps 23)
    run vit-$c-ff-abs "${common[@]}" --ff-frac 0.04
    run vit-$c-ff-random "${common[@]}" --ff-frac 0.04 --ff-metric random
    run vit-$c-attn-abs "${common[@]}" --ff-frac 0 --attn-frac 0.04
    [ -f "$out/vit-baselines/$c.json" ] || python3 Tools/experiments/unlearn_baselines.py --forget-class $c --out "$out/vit-baselines" > "$out/vit-baselines-$c.log"
  done
fi

if [ "$what" = mlm ] || [ "$what" = all ]; then
  # the masked LM: forget code, retain prose, on the pair's held-out documents (15% of tokens are predictions)
  [ -d demo-data/heldout/code ] || python3 Tools/experiments/train_demo.py --heldout-only
  common=(--model models/mlm --forget demo-data/heldout/code --retain demo-data/heldout/prose
          --context 256 --collect-tokens 6144 --eval-tokens 6144 --steps 25)
  run mlm-ff-abs "${common[@]}"
  run mlm-ff-random "${common[@]}" --ff-metric random
  run mlm-attn-abs "${common[@]}" --ff-frac 0 --attn-frac 0.02
  run mlm-attn-random "${common[@]}" --ff-frac 0 --attn-frac 0.02 --attn-metric random
fi

if [ "$what" = neox ] || [ "$what" = dropout ] || [ "$what" = all ]; then
  [ -f models/pair-neox/dropout/model.safetensors ] || { echo "models/pair-neox is missing: python3 Tools/experiments/train_demo.py --arch neox" >&2; exit 1; }
  # dropout: claim (c) side by side, the first pair's three runs beside the NeoX pair's
  if [ "$what" = dropout ]; then dropout_runs pair models/pair; fi
  dropout_runs neox models/pair-neox
fi

python3 Tools/experiments/results_table.py "$out"
