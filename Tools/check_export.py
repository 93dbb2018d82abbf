#!/usr/bin/env python3
"""Loads an exported checkpoint folder with HF transformers and writes the logits of the given
token ids to a safetensors file (tensor `logits`, float32 [T, V]). Used by the export test.

    python3 Tools/check_export.py MODEL_DIR 2,5,7,11 OUT.safetensors
"""
import sys
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoConfig
from safetensors.torch import save_file

model_dir, ids, out = sys.argv[1], [int(x) for x in sys.argv[2].split(",")], sys.argv[3]
masked = AutoConfig.from_pretrained(model_dir).model_type in ("bert", "roberta")
model = (AutoModelForMaskedLM if masked else AutoModelForCausalLM).from_pretrained(model_dir, dtype=torch.float32).eval()
with torch.inference_mode():
    logits = model(torch.tensor([ids])).logits[0].contiguous()
save_file({"logits": logits}, out)
print("ok", tuple(logits.shape))
