#!/usr/bin/env python3
"""`scalpel eval`'s numbers for a causal LM, computed independently by HF transformers + tokenizers.

    python3 Tools/checks/eval_reference.py MODEL_FOLDER --data [NAME=]PATH ... [--context N] [--tokens N] [--skip N]

Same windows (each document cut into consecutive windows of --context tokens), same predictions and
same metrics (METHOD.md §7) as `scalpel eval`, from transformers' Float32 logits, printed in the same
columns. For checking Scalpel on a checkpoint that no committed fixture covers (e.g. the GPT-NeoX pair,
whose weights are made by a script): run both commands and compare the lines.
"""
import argparse
import sys
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

from scalpel_reference.data import select_windows
from scalpel_reference.metrics import evaluate


def data_set(spec):
    """(name, path) of [NAME=]PATH as scalpel reads it: NAME= only when it holds no '/'; else the file's stem."""
    name, eq, path = spec.partition("=")
    if not eq or "/" in name:
        return Path(spec).stem or spec, spec
    return name, path


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model", type=Path)
    ap.add_argument("--data", action="append", required=True, help="[NAME=]PATH, a file, .jsonl or folder")
    ap.add_argument("--context", type=int, help="window length (default: min(1024, the model's position limit), as scalpel)")
    ap.add_argument("--tokens", type=int, help="predictions per data set (default: all after --skip)")
    ap.add_argument("--skip", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    for needed in ("config.json", "tokenizer.json"):
        if not (args.model / needed).is_file():
            sys.exit(f"error: {args.model}: no {needed} (a Hugging Face checkpoint folder is needed)")
    sets = [data_set(spec) for spec in args.data]
    for _, path in sets:
        if not Path(path).exists():
            sys.exit(f"error: {path}: does not exist")
    torch.set_num_threads(args.threads)
    model = AutoModelForCausalLM.from_pretrained(args.model, dtype=torch.float32).eval()
    tok = Tokenizer.from_file(str(args.model / "tokenizer.json"))
    context = args.context or min(1024, getattr(model.config, "max_position_embeddings", 1024))
    print(f"{'data set':<8}{'loss':>8}{'perplexity':>12}{'top1':>8}{'top10':>8}{'top1_skip50':>13}{'predictions':>13}")
    for name, path in sets:
        # the windows alone (tokenizing, no model): too few predictions is one line before any work
        if not select_windows(tok, path, context, args.skip, args.tokens):
            sys.exit(f"error: {path}: no predictions after the first {args.skip} at context {context}")
        r = evaluate(model, tok, path, context, args.skip, args.tokens)
        print(f"{name:<8}{r['loss']:>8.4f}{r['perplexity']:>12.3f}{100 * r['top1']:>7.2f}%{100 * r['top10']:>7.2f}%"
              f"{100 * r['top1_skip50']:>12.2f}%{r['predictions']:>13}")


if __name__ == "__main__":
    main()
