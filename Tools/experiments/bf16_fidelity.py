#!/usr/bin/env python3
"""How close `--dtype bf16` stays to Float32, next to how close PyTorch's own BF16 stays (docs/bf16.md).

    python3 Tools/experiments/bf16_fidelity.py [--scalpel .build/release/scalpel]

For every model fixture and its first reference sequences: Scalpel's logits (`scalpel logits`,
--dtype bf16 and f32) against transformers in Float32 and loaded with dtype=torch.bfloat16:
max |Δlogit| and top-1 agreement. Prints a Markdown table.
"""
import argparse, subprocess, tempfile
from pathlib import Path

import torch
from safetensors.torch import load_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForMaskedLM

from scalpel_reference.paths import FIX, ROOT

MODELS = ["opt-prenorm", "opt-postnorm-proj", "opt-nobias-untied", "neox-parallel", "neox-sequential", "gpt2",
          "gpt2-layer-scaled", "llama-gqa", "llama-linear-bias", "qwen2", "mistral-headdim", "bert-mlm", "roberta-mlm"]


def load(folder, dtype):
    cls = AutoModelForMaskedLM if AutoConfig.from_pretrained(folder).model_type in ("bert", "roberta") else AutoModelForCausalLM
    return cls.from_pretrained(folder, dtype=dtype).eval()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scalpel", default=str(ROOT / ".build/release/scalpel"))
    a = ap.parse_args()
    print("| model | max abs F32 logit | Scalpel BF16 vs F32: max Δ | top-1 agree | PyTorch BF16 vs F32: max Δ | top-1 agree | Scalpel BF16 vs PyTorch BF16: max Δ | top-1 agree |")
    print("|---|---|---|---|---|---|---|---|")
    for name in MODELS:
        folder = FIX / "models" / name
        ref = load_file(str(FIX / "models" / f"{name}.reference.safetensors"))
        f32, b16 = load(folder, torch.float32), load(folder, torch.bfloat16)
        stats = {"s_f": [0.0, 0, 0], "p_f": [0.0, 0, 0], "s_p": [0.0, 0, 0]}
        top = 0.0
        for j in range(2):
            ids = ref[f"ids_{j}"].long()
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "l.safetensors"
                subprocess.run([a.scalpel, "logits", "--model", str(folder), "--dtype", "bf16", "--threads", "2",
                                "--ids", ",".join(map(str, ids.tolist())), "--out", str(out)], check=True, capture_output=True)
                ours = load_file(str(out))["logits"]
            with torch.inference_mode():
                lf = f32(ids[None]).logits[0].float()
                lb = b16(ids[None]).logits[0].float()
            top = max(top, float(lf.abs().max()))
            for key, (x, y) in {"s_f": (ours, lf), "p_f": (lb, lf), "s_p": (ours, lb)}.items():
                s = stats[key]
                s[0] = max(s[0], float((x - y).abs().max()))
                s[1] += int((x.argmax(-1) == y.argmax(-1)).sum())
                s[2] += x.shape[0]
        cells = " | ".join(f"{stats[k][0]:.3f} | {100 * stats[k][1] / stats[k][2]:.1f}%" for k in ("s_f", "p_f", "s_p"))
        print(f"| {name} | {top:.1f} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
