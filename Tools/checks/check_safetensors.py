#!/usr/bin/env python3
"""Reads a safetensors file with the Python `safetensors` library and prints, as JSON,
each tensor's dtype, shape and values (as float64 lists). Used by the Swift round-trip test.

    python3 Tools/checks/check_safetensors.py FILE
"""
import json, sys
from safetensors.numpy import load_file
from safetensors import safe_open

path = sys.argv[1]
with safe_open(path, "np") as f:
    meta = f.metadata() or {}
out = {"metadata": meta, "tensors": {}}
for name, arr in load_file(path).items():
    out["tensors"][name] = {"dtype": str(arr.dtype), "shape": list(arr.shape), "values": arr.astype("float64").flatten().tolist()}
print(json.dumps(out))
