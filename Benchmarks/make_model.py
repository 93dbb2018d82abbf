#!/usr/bin/env python3
"""Writes a random-init OPT checkpoint of a real shape (default: OPT-125m) for benchmarks,
with the test fixture's tokenizer.json beside it.

    python3 Benchmarks/make_model.py OUT_DIR [--shape 125m|350m|1.3b]
"""
import argparse, shutil
from pathlib import Path
import torch
from transformers import OPTConfig, OPTForCausalLM

SHAPES = {
    "125m": dict(hidden_size=768, num_hidden_layers=12, ffn_dim=3072, num_attention_heads=12),
    "350m": dict(hidden_size=1024, num_hidden_layers=24, ffn_dim=4096, num_attention_heads=16,
                 word_embed_proj_dim=512, do_layer_norm_before=False),
    "1.3b": dict(hidden_size=2048, num_hidden_layers=24, ffn_dim=8192, num_attention_heads=32),
}

p = argparse.ArgumentParser()
p.add_argument("out")
p.add_argument("--shape", default="125m", choices=SHAPES)
a = p.parse_args()
torch.manual_seed(0)
cfg = OPTConfig(vocab_size=50272, max_position_embeddings=2048, **SHAPES[a.shape])
model = OPTForCausalLM(cfg).eval()
model.save_pretrained(a.out)
root = Path(__file__).resolve().parent.parent
shutil.copy(root / "Tests/Fixtures/tokenizer/bytelevel.json", Path(a.out) / "tokenizer.json")
print("wrote", a.out)
