#!/usr/bin/env python3
"""Loads an exported checkpoint folder with HF transformers and writes the logits of the given
token ids to a safetensors file (tensor `logits`, float32 [T, V]). Used by the export test.
For an image classifier, IDS is FILE:TENSOR naming pixel values [3, H, W] in a safetensors file.

    python3 Tools/checks/check_export.py MODEL_DIR 2,5,7,11 OUT.safetensors
    python3 Tools/checks/check_export.py VIT_DIR reference.safetensors:pixels_0 OUT.safetensors
"""
import sys
import torch
from transformers import AutoModelForCausalLM, AutoModelForMaskedLM, AutoConfig
from safetensors.torch import save_file

model_dir, ids, out = sys.argv[1], sys.argv[2], sys.argv[3]
if AutoConfig.from_pretrained(model_dir).model_type == "vit":
    from transformers import AutoModelForImageClassification
    from safetensors.torch import load_file
    file, name = ids.rsplit(":", 1)
    model = AutoModelForImageClassification.from_pretrained(model_dir, dtype=torch.float32).eval()
    with torch.inference_mode():
        logits = model(pixel_values=load_file(file)[name][None]).logits.contiguous()
    save_file({"logits": logits}, out)
    print("ok", tuple(logits.shape))
    sys.exit(0)
ids = [int(x) for x in ids.split(",")]
masked = AutoConfig.from_pretrained(model_dir).model_type in ("bert", "roberta")
model = (AutoModelForMaskedLM if masked else AutoModelForCausalLM).from_pretrained(model_dir, dtype=torch.float32).eval()
with torch.inference_mode():
    logits = model(torch.tensor([ids])).logits[0].contiguous()
save_file({"logits": logits}, out)
print("ok", tuple(logits.shape))
