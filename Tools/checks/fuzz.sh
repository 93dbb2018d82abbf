#!/usr/bin/env bash
# Builds the libFuzzer binary (Swift -sanitize=fuzzer,address; our C code instrumented too) and runs every parser target for a
# bounded time, each from a seed corpus made of the test fixtures.
#   bash Tools/checks/fuzz.sh [SECONDS_PER_TARGET] [TARGET ...]     (default 60 s, all targets)
# Prints one summary line per target (executions, coverage, corpus size, findings) and exits
# non-zero if any target found a crash, a timeout (an input that takes > 10 s: a hang) or an
# out-of-memory (> 4 GiB), or a leak (LeakSanitizer). Findings are kept in .fuzz/findings/TARGET/;
# once fixed, copy them to Tests/Fixtures/fuzz-regressions/TARGET/ so every run replays them.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_PER_TARGET="${1:-60}"; shift || true
TARGETS=("$@"); [ ${#TARGETS[@]} -eq 0 ] && TARGETS=(safetensors gguf config tokenizer data image)
SCALPEL_FUZZ=1 swift build -c release --scratch-path .build-fuzz --product scalpel-fuzz \
  -Xswiftc -sanitize=fuzzer,address -Xswiftc -parse-as-library -Xcc -fsanitize=fuzzer-no-link,address \
  >.fuzz-build.log 2>&1 || { cat .fuzz-build.log; exit 1; }
BIN=.build-fuzz/release/scalpel-fuzz
F=Tests/Fixtures
seed() {  # seed corpus of a target from the fixtures
  local dir=.fuzz/corpus/$1 f c m p; mkdir -p "$dir"
  case $1 in
    safetensors) cp $F/safetensors/*.safetensors $F/gguf/*.safetensors $F/pruning/*.safetensors "$dir"/ 2>/dev/null || true
                 for m in $F/models/*/model.safetensors; do [ "$(stat -c %s "$m")" -lt 2000000 ] && cp "$m" "$dir/$(basename "$(dirname "$m")").safetensors"; done ;;
    gguf) cp $F/gguf/*.gguf "$dir"/ ;;
    config) for c in $F/models/*/config.json; do cp "$c" "$dir/$(basename "$(dirname "$c")").json"; done ;;
    tokenizer) for f in $F/tokenizer/*.json $F/models/*/tokenizer.json; do
                 [ "$(basename "$f")" = expected.json ] || cp "$f" "$dir/$(basename "$(dirname "$f")")-$(basename "$f")"; done ;;
    image) for f in $(find $F/images -type f \( -name '*.png' -o -name '*.jpg' \) | head -8); do cp "$f" "$dir/"; done ;;
    data) cp $F/data/code/docs.jsonl "$dir"/; for p in $F/data/prose/*; do [ -f "$p" ] && cp "$p" "$dir"/; done
          printf '{"text": "crlf line one"}\r\n{"text": "two"}\r\n' > "$dir/crlf.jsonl" ;;
  esac
}
status=0
for t in "${TARGETS[@]}"; do
  seed "$t"
  # inputs that once failed (Tests/Fixtures/fuzz-regressions/TARGET) are replayed first, as seeds
  [ -d "$F/fuzz-regressions/$t" ] && cp "$F/fuzz-regressions/$t"/* ".fuzz/corpus/$t/"
  mkdir -p ".fuzz/findings/$t"
  log=".fuzz/$t.log"
  set +e
  FUZZ_TARGET=$t FUZZ_FIXTURES=$F "$BIN" ".fuzz/corpus/$t" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=4096 \
    -max_len=65536 -artifact_prefix=".fuzz/findings/$t/" -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo 0)
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo 0)
  corpus=$(ls ".fuzz/corpus/$t" | wc -l)
  findings=$(ls ".fuzz/findings/$t" | wc -l)
  echo "fuzz $t: ${SECONDS_PER_TARGET}s, $runs executions, coverage $cov edges ($ft features), corpus $corpus, findings $findings, exit $rc"
  if [ "$rc" -ne 0 ] || [ "$findings" -ne 0 ]; then status=1; grep -E 'ERROR|SUMMARY|Fatal|panic|==[0-9]+==' "$log" | head -5; fi
done
exit $status
