#!/usr/bin/env python3
"""Trains Scalpel's masked LM: a small RoBERTa-architecture model on the dropout pair's code + prose.

    python3 Tools/experiments/train_mlm.py          # 46 min on 2 cores shared with other trainings; writes models/mlm/

Data and tokenizer are the dropout pair's (Tools/experiments/train_demo.py): the same training
documents (every tenth held out), and the pair's byte-level BPE (models/pair/tokenizer.json) with one
token added, `<mask>` (id 2048), and RoBERTa's post-processor (`<s>` … `</s>` around each document).
Each document is cut into windows of --context tokens exactly as `scalpel` cuts it (consecutive,
the first window starting with `<s>`); full windows are the training examples. Masking is METHOD.md
§6's: 15% of the non-special positions, of those 80% `<mask>`, 10% a random token, 10% unchanged;
the loss is the cross-entropy at the chosen positions. Dropout 0.1 (hidden and attention), as RoBERTa.

Writes models/mlm/: config.json, model.safetensors (fp16), tokenizer.json, tokenizer_config.json,
training.csv and README.md (the model card, with held-out masked top-1 measured by PyTorch).
PyTorch is used here only to make the checkpoint; Scalpel never runs Python.
"""
import argparse
import csv
import json
import math
import shutil
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from tokenizers import AddedToken, Tokenizer, processors
from transformers import RobertaConfig, RobertaForMaskedLM

from scalpel_reference.pair_corpus import documents, split

ROOT = Path(__file__).resolve().parents[2]
SPECIAL = {0, 1, 2, 3}


def make_tokenizer(pair_tokenizer):
    tok = Tokenizer.from_file(str(pair_tokenizer))
    tok.add_special_tokens([AddedToken("<mask>", special=True, lstrip=True)])
    tok.post_processor = processors.RobertaProcessing(("</s>", 2), ("<s>", 0), trim_offsets=True,
                                                      add_prefix_space=False)
    return tok


def windows(tok, texts, ctx, full_only):
    """Each document's ids (with <s> … </s>) cut into consecutive windows of ctx tokens, as scalpel does."""
    out = []
    for t in texts:
        ids = tok.encode(t).ids
        for i in range(0, len(ids), ctx):
            w = ids[i:i + ctx]
            if len(w) == ctx or (not full_only and len(w) >= 2):
                out.append(w)
    return out


def corrupt(x, mask_id, vocab, gen):
    """15% of non-special positions chosen; 80% -> <mask>, 10% random, 10% kept. Returns input and labels (-100 elsewhere)."""
    special = torch.zeros_like(x, dtype=torch.bool)
    for s in SPECIAL:
        special |= x == s
    chosen = (torch.rand(x.shape, generator=gen) < 0.15) & ~special
    action = torch.rand(x.shape, generator=gen)
    rand = torch.randint(0, vocab, x.shape, generator=gen)
    inp = x.clone()
    inp[chosen & (action < 0.8)] = mask_id
    swap = chosen & (action >= 0.8) & (action < 0.9)
    inp[swap] = rand[swap]
    labels = torch.where(chosen, x, torch.full_like(x, -100))
    return inp, labels


@torch.inference_mode()
def heldout(model, wins, mask_id, vocab, seed=1234):
    """Masked top-1 and loss over held-out windows (one sequence at a time: windows differ in length)."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    right = total = 0
    loss = 0.0
    for w in wins:
        x = torch.tensor([w])
        inp, labels = corrupt(x, mask_id, vocab, gen)
        logits = model(input_ids=inp).logits
        sel = labels != -100
        if sel.any():
            loss += F.cross_entropy(logits[sel], labels[sel], reduction="sum").item()
            right += (logits[sel].argmax(-1) == labels[sel]).sum().item()
            total += int(sel.sum())
    return {"loss": loss / total, "top1": right / total, "predictions": total}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "models" / "mlm"))
    ap.add_argument("--data", default=str(ROOT / "demo-data"))
    ap.add_argument("--pair-tokenizer", default=str(ROOT / "models" / "pair" / "tokenizer.json"))
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log-every", type=int, default=50)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = Path(args.data)
    prose_train, prose_held = split(documents(data / "prose"))
    code_train, code_held = split(documents(data / "code"))
    tok = make_tokenizer(args.pair_tokenizer)
    mask_id, vocab = tok.token_to_id("<mask>"), tok.get_vocab_size()
    train = torch.tensor(windows(tok, [t for _, t in prose_train + code_train], args.context, True))
    held = {"prose": windows(tok, [t for _, t in prose_held], args.context, False),
            "code": windows(tok, [t for _, t in code_held], args.context, False)}

    cfg = RobertaConfig(vocab_size=vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
                        num_attention_heads=args.heads, intermediate_size=args.ffn, hidden_act="gelu",
                        hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                        max_position_embeddings=args.context + 2, type_vocab_size=1, layer_norm_eps=1e-5,
                        pad_token_id=1, bos_token_id=0, eos_token_id=2, tie_word_embeddings=True)
    model = RobertaForMaskedLM(cfg)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.98), weight_decay=0.01)
    gen = torch.Generator().manual_seed(args.seed)
    print(f"RoBERTa {params:,} parameters; {len(train)} training windows of {args.context}", flush=True)
    log, start = [], time.time()
    for step in range(1, args.steps + 1):
        lr = args.lr * min(1.0, step / args.warmup) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
        for g in opt.param_groups:
            g["lr"] = lr
        x = train[torch.randint(0, len(train), (args.batch,), generator=gen)]
        inp, labels = corrupt(x, mask_id, vocab, gen)
        model.train()
        loss = model(input_ids=inp, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == 1:
            log.append((step, loss.item()))
            print(f"step {step}/{args.steps} loss {loss.item():.4f} ({time.time() - start:.0f} s)", flush=True)
    seconds = time.time() - start
    metrics = {k: heldout(model, w, mask_id, vocab) for k, w in held.items()}
    print("held out:", metrics, flush=True)

    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.half().save_pretrained(tmp)
    tok.save(str(tmp / "tokenizer.json"))
    (tmp / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "cls_token": "<s>",
        "sep_token": "</s>", "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>",
        "model_max_length": args.context}, indent=2) + "\n")
    with open(tmp / "training.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss"])
        for s, l in log:
            w.writerow([s, f"{l:.4f}"])
    tokens = args.steps * args.batch * args.context
    size = (tmp / "model.safetensors").stat().st_size / 2**20
    rows = "\n".join(f"| {s} | {l:.3f} |" for i, (s, l) in enumerate(log) if i % max(1, len(log) // 10) == 0 or i == len(log) - 1)
    (tmp / "README.md").write_text(f"""# Scalpel's masked LM

A small RoBERTa-architecture masked language model trained from scratch on the dropout pair's code and
prose, for the paper's masked-LM experiment (`docs/RESULTS.md`). Retrain: `python3 Tools/experiments/train_mlm.py`
(needs `demo-data/`, `bash Tools/setup/setup.sh --demo`).

## Data
The dropout pair's training documents (`models/pair/README.md`): King James Bible + The Devil's Dictionary
(prose) and the Python standard library (code); every tenth document held out (`demo-data/heldout/`).
Tokenizer: the pair's byte-level BPE (2048 tokens) plus `<mask>` (id {mask_id}), with RoBERTa's post-processor
(`<s>` … `</s>` around each document). {len(train):,} full training windows of {args.context} tokens.

## Model
`RobertaForMaskedLM`: {args.layers} layers, hidden {args.hidden}, FF {args.ffn} (GELU), {args.heads} heads, positions {args.context}
(+2, RoBERTa's offset), dropout {args.dropout} (hidden and attention), tied decoder. {params:,} parameters; fp16
safetensors ({size:.1f} MiB).

## Training
{args.steps} steps of {args.batch} random windows ({tokens:,} tokens, 15% of them predicted), METHOD.md §6's masking
(15%; 80% `<mask>`, 10% random, 10% kept) drawn afresh per batch, AdamW (lr {args.lr}, betas 0.9/0.98, weight decay
0.01), {args.warmup} warm-up steps then cosine to 5%, gradient clip 1.0, seed {args.seed}; PyTorch {torch.__version__}
on CPU, {args.threads} threads, {seconds / 60:.0f} minutes.

| step | training loss (masked positions, nats) |
| ---: | ---: |
{rows}

## Held-out metrics
Every held-out window (the last one of each document may be shorter), one seeded masking, PyTorch in Float32:

| set | masked loss | masked top-1 | predictions |
| --- | ---: | ---: | ---: |
| prose | {metrics['prose']['loss']:.3f} | {100 * metrics['prose']['top1']:.2f}% | {metrics['prose']['predictions']:,} |
| code | {metrics['code']['loss']:.3f} | {100 * metrics['code']['top1']:.2f}% | {metrics['code']['predictions']:,} |

License: the weights are derived from public-domain prose and the PSF-licensed Python standard library.
""")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
