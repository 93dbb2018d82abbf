#!/usr/bin/env python3
"""Reference statistics, scores and first-step selections for the pruning parity tests,
computed the way the paper's code does: HF transformers with forward hooks on the inputs of
the output projections (fc2, out_proj), then METHOD.md §2–§4 in torch (float64).

    python3 Tools/reference_pruning.py        # writes Tests/Fixtures/pruning/reference.safetensors
"""
import json
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import OPTForCausalLM
from safetensors.torch import save_file

from make_fixtures import FIX, read_documents

MODEL = FIX / "models" / "opt-prenorm"
FORGET = FIX / "data" / "code" / "docs.jsonl"
RETAIN = FIX / "data" / "prose"
CONTEXT, COLLECT = 32, 100
FF_FRAC, ATTN_FRAC = 0.05, 0.02
FF_EPS, ATTN_EPS = 1e-3, 1e-4


def collect(model, tok, path):
    """Float64 sums over the input positions of the first COLLECT predictions."""
    layers = model.model.decoder.layers
    L, F = len(layers), model.config.ffn_dim
    D = model.config.hidden_size
    acts = {}
    hooks = []
    for i, layer in enumerate(layers):
        # inputs of the output projections, as [positions, width] (OPT flattens the MLP input to 2-D)
        hooks.append(layer.fc2.register_forward_pre_hook(lambda m, a, i=i: acts.__setitem__(("ff", i), a[0].reshape(-1, F).detach().double())))
        hooks.append(layer.self_attn.out_proj.register_forward_pre_hook(lambda m, a, i=i: acts.__setitem__(("attn", i), a[0].reshape(-1, D).detach().double())))
    sums = {k: {n: torch.zeros(L, w, dtype=torch.float64) for n in ["sum", "sum_abs", "sum_sqrt", "sum_sq", "count_pos"]}
            for k, w in [("ff", F), ("attn", D)]}
    count = 0
    for doc in read_documents(path):
        ids = tok.encode(doc).ids
        for w in range(0, len(ids), CONTEXT):
            window = ids[w:w + CONTEXT]
            n = min(len(window) - 1, COLLECT - count)
            if n <= 0:
                continue
            with torch.inference_mode():
                model(torch.tensor([window]))
            for (kind, i), a in acts.items():
                a = a[:n]
                s = sums[kind]
                s["sum"][i] += a.sum(0)
                s["sum_abs"][i] += a.abs().sum(0)
                s["sum_sqrt"][i] += a.abs().sqrt().sum(0)
                s["sum_sq"][i] += (a * a).sum(0)
                s["count_pos"][i] += (a > 0).double().sum(0)
            count += n
            if count >= COLLECT:
                break
        if count >= COLLECT:
            break
    for h in hooks:
        h.remove()
    assert count == COLLECT
    return sums, count


def importance(s, n, metric):
    if metric == "freq":
        return s["count_pos"] / n
    if metric == "abs":
        return s["sum_abs"] / n
    if metric == "sqrt":
        return s["sum_sqrt"] / n
    if metric == "rms":
        return (s["sum_sq"] / n).sqrt()
    if metric == "mean":
        return s["sum"] / n
    if metric == "std":
        mean = s["sum"] / n
        return ((s["sum_sq"] - n * mean * mean) / (n - 1)).clamp(min=0).sqrt()
    raise ValueError(metric)


def score(metric, f, r, n, eps):
    if metric == "mean":
        return (importance(f, n, "mean") - importance(r, n, "mean")).abs()
    return importance(f, n, metric) / (importance(r, n, metric) + eps)


def top_mask(scores, k):
    flat = scores.flatten()
    order = sorted(range(flat.numel()), key=lambda i: (-float(flat[i]), i))[:k]
    m = torch.zeros(flat.numel(), dtype=torch.uint8)
    m[order] = 1
    return m.view(scores.shape)


def head_mask(scores, heads, k, mode):
    L, D = scores.shape
    dh = D // heads
    per = scores.view(L * heads, dh)
    hs = per.mean(1) if mode == "mean" else per.sort(1).values[:, [dh // 2 - 1, dh // 2]].mean(1) if dh % 2 == 0 else per.median(1).values
    order = sorted(range(L * heads), key=lambda i: (-float(hs[i]), i))[:k]
    m = torch.zeros(L * heads, dh, dtype=torch.uint8)
    m[order] = 1
    return m.view(L, heads, dh)


def main():
    torch.set_num_threads(2)
    tok = Tokenizer.from_file(str(MODEL / "tokenizer.json"))
    model = OPTForCausalLM.from_pretrained(MODEL, dtype=torch.float32).eval()
    cfg = model.config
    L, heads = cfg.num_hidden_layers, cfg.num_attention_heads
    f, n = collect(model, tok, FORGET)
    r, _ = collect(model, tok, RETAIN)
    out = {}
    for kind in ["ff", "attn"]:
        for name in ["sum", "sum_abs", "sum_sqrt", "sum_sq", "count_pos"]:
            out[f"forget.{kind}.{name}"] = f[kind][name]
            out[f"retain.{kind}.{name}"] = r[kind][name]
        eps = FF_EPS if kind == "ff" else ATTN_EPS
        for metric in ["freq", "abs", "sqrt", "rms", "std", "mean"]:
            out[f"score.{kind}.{metric}"] = score(metric, f[kind], r[kind], n, eps)
    out["count"] = torch.tensor([float(n)], dtype=torch.float64)
    ff_k = int(FF_FRAC * L * cfg.ffn_dim)
    attn_k = int(ATTN_FRAC * L * cfg.hidden_size)
    head_k = int(0.25 * L * heads)
    for metric in ["freq", "abs", "sqrt", "rms", "std", "mean"]:
        out[f"mask.ff.{metric}"] = top_mask(out[f"score.ff.{metric}"], ff_k)
        out[f"mask.attn.{metric}"] = top_mask(out[f"score.attn.{metric}"], attn_k).view(L, heads, -1)
    out["mask.heads.mean"] = head_mask(out["score.attn.abs"], heads, head_k, "mean")
    out["mask.heads.median"] = head_mask(out["score.attn.abs"], heads, head_k, "median")
    dest = FIX / "pruning"
    dest.mkdir(exist_ok=True)
    save_file({k: v.contiguous() for k, v in out.items()}, str(dest / "reference.safetensors"),
              metadata={"context": str(CONTEXT), "collect": str(COLLECT), "ff_frac": str(FF_FRAC), "attn_frac": str(ATTN_FRAC),
                        "head_frac": "0.25"})
    print("wrote", dest / "reference.safetensors", {k: int(v.sum()) for k, v in out.items() if k.startswith("mask")})


if __name__ == "__main__":
    main()
