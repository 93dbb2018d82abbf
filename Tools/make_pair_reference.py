#!/usr/bin/env python3
"""Reference for the committed dropout pair (models/pair/): HF tokenizers' ids and transformers'
Float32 logits of three short texts, for Tests/ScalpelModelsTests/PairTests.swift.

    python3 Tools/make_pair_reference.py     # writes Tests/Fixtures/pair/{dropout,no-dropout}.reference.safetensors
"""
from pathlib import Path
import torch
from safetensors.torch import save_file
from tokenizers import Tokenizer
from transformers import OPTForCausalLM

ROOT = Path(__file__).resolve().parent.parent
TEXTS = [
    "def mean(values):\n    return sum(values) / len(values)\n",
    "And God said, Let there be light: and there was light.",
    "CYNIC, n. A blackguard whose faulty vision sees things as they are.",
]

out = ROOT / "Tests" / "Fixtures" / "pair"
out.mkdir(parents=True, exist_ok=True)
for name in ("dropout", "no-dropout"):
    folder = ROOT / "models" / "pair" / name
    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    model = OPTForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    records = {}
    for j, text in enumerate(TEXTS):
        ids = tok.encode(text).ids
        with torch.inference_mode():
            logits = model(torch.tensor([ids])).logits[0]
        records[f"ids_{j}"] = torch.tensor(ids, dtype=torch.int32)
        records[f"logits_{j}"] = logits.contiguous()
    save_file(records, str(out / f"{name}.reference.safetensors"), metadata={f"text_{j}": t for j, t in enumerate(TEXTS)})
    print(name, {j: len(records[f"ids_{j}"]) for j in range(len(TEXTS))})
