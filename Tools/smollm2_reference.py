#!/usr/bin/env python3
"""Reference for the GGUF path: transformers loads SmolLM2-135M-Instruct.Q4_1.gguf (dequantizing
with gguf-py) and builds its tokenizer from the GGUF metadata. Writes token ids of a mixed corpus
and, for one sequence, logits over the first 2048 vocabulary entries plus each position's full-vocab
argmax and log-sum-exp, to Tests/Fixtures/smollm2/reference.safetensors (small).

    bash Tools/fetch_smollm2.sh && pip install gguf accelerate && python3 Tools/smollm2_reference.py
"""
import sys
from pathlib import Path
import torch
from safetensors.torch import save_file
from transformers import AutoModelForCausalLM, AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import MIXED, FIX

gguf = Path(__file__).resolve().parent.parent / ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32).eval()
out = {}
for i, text in enumerate(MIXED):
    out[f"ids_{i}"] = torch.tensor(tok(text).input_ids or [0], dtype=torch.int32)
    out[f"text_{i}"] = torch.tensor(list(text.encode("utf-8")) or [0], dtype=torch.uint8)
ids = tok("def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n").input_ids
with torch.inference_mode():
    logits = model(torch.tensor([ids])).logits[0]
out["logits_ids"] = torch.tensor(ids, dtype=torch.int32)
out["logits_head"] = logits[:, :2048].contiguous()
out["logits_argmax"] = logits.argmax(-1).to(torch.int32)
out["logits_lse"] = torch.logsumexp(logits.double(), -1)
dest = FIX / "smollm2"
dest.mkdir(exist_ok=True)
save_file(out, str(dest / "reference.safetensors"))
print("wrote", dest / "reference.safetensors", len(ids), "tokens")
