#!/usr/bin/env python3
"""Writes a Llama-3-8B-shaped checkpoint with random BF16 weights (32 layers, width 4096, FF 14336,
32 heads, 8 KV heads, vocabulary 128256: 8.03B parameters, 16.1 GB) to a local folder, for showing
that `--dtype bf16` holds an 8B model on a 24 GiB machine (docs/performance.md). Not committed.

    python3 Tools/experiments/make_llama8b_shape.py OUT_DIR

Shards of about 4 GB (model-0000N-of-0000M.safetensors + index); the tokenizer is a small fixture
tokenizer (its ids are all below the vocabulary). Weights ~ N(0, 0.02²), norms 1, seeded.
"""
import json, shutil, sys
from pathlib import Path

import torch
from safetensors.torch import save_file

from scalpel_reference.paths import FIX

D, L, F, H, KV, V = 4096, 32, 14336, 32, 8, 128256
DH = D // H


def shapes():
    yield "model.embed_tokens.weight", (V, D)
    for i in range(L):
        p = f"model.layers.{i}."
        yield p + "input_layernorm.weight", (D,)
        yield p + "post_attention_layernorm.weight", (D,)
        yield p + "self_attn.q_proj.weight", (H * DH, D)
        yield p + "self_attn.k_proj.weight", (KV * DH, D)
        yield p + "self_attn.v_proj.weight", (KV * DH, D)
        yield p + "self_attn.o_proj.weight", (D, H * DH)
        yield p + "mlp.gate_proj.weight", (F, D)
        yield p + "mlp.up_proj.weight", (F, D)
        yield p + "mlp.down_proj.weight", (D, F)
    yield "model.norm.weight", (D,)
    yield "lm_head.weight", (V, D)


def main():
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    shard, shard_bytes, shards, weight_map = {}, 0, [], {}

    def flush():
        nonlocal shard, shard_bytes
        if shard:
            name = f"model-{len(shards) + 1:05d}.safetensors"
            save_file(shard, str(out / name), metadata={"format": "pt"})
            shards.append((name, list(shard)))
            shard, shard_bytes = {}, 0

    for name, shape in shapes():
        t = torch.ones(shape, dtype=torch.bfloat16) if len(shape) == 1 else (torch.randn(shape, generator=g) * 0.02).to(torch.bfloat16)
        shard[name] = t
        shard_bytes += t.numel() * 2
        if shard_bytes >= 4 << 30:
            flush()
    flush()
    total = len(shards)
    for i, (name, names) in enumerate(shards):
        final = f"model-{i + 1:05d}-of-{total:05d}.safetensors"
        (out / name).rename(out / final)
        weight_map.update({n: final for n in names})
    size = sum(t.stat().st_size for t in out.glob("*.safetensors"))
    (out / "model.safetensors.index.json").write_text(json.dumps({"metadata": {"total_size": size}, "weight_map": weight_map}, indent=1))
    config = {"model_type": "llama", "architectures": ["LlamaForCausalLM"], "hidden_size": D, "intermediate_size": F,
              "num_hidden_layers": L, "num_attention_heads": H, "num_key_value_heads": KV, "vocab_size": V,
              "max_position_embeddings": 8192, "rms_norm_eps": 1e-5, "rope_theta": 500000.0, "hidden_act": "silu",
              "tie_word_embeddings": False, "torch_dtype": "bfloat16", "bos_token_id": 1, "eos_token_id": 2}
    (out / "config.json").write_text(json.dumps(config, indent=1))
    shutil.copy(FIX / "models" / "llama-gqa" / "tokenizer.json", out / "tokenizer.json")
    print(f"{out}: {total} shards, {size / 1e9:.2f} GB")


if __name__ == "__main__":
    main()
