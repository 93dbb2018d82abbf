#!/usr/bin/env python3
"""Trains Scalpel's dropout pairs: two language models that differ only in dropout.

    python3 Tools/experiments/train_demo.py                  # retrains the OPT pair into models/pair/ (about 30 min on 2 cores)
    python3 Tools/experiments/train_demo.py --heldout-only   # only the held-out split the experiments use
    python3 Tools/experiments/train_demo.py --arch neox      # the larger GPT-NeoX pair into models/pair-neox/ (58 min on 2 cores; see its README)

Both models see the same prose (King James Bible + The Devil's Dictionary) and Python code (the
standard library's top-level modules), built by Tools/setup/demo_data.sh, in the same order, from the
same initial weights; one is trained with `dropout=0.1` (OPT's own setting), the other with
`dropout=0.0`. `--arch neox` makes the pair GPT-NeoX models (Pythia's architecture: parallel
residual, rotary positions on a quarter of each head, untied output) with `hidden_dropout` 0.1 / 0.0,
and reuses the OPT pair's tokenizer (`--tokenizer`) so both pairs see identical token streams. Every tenth document of each set (sorted path order) is held out; the held-out
documents are copied to demo-data/heldout/{prose,code}/ for the experiments in docs/RESULTS.md.

Writes, under models/pair/:
  tokenizer.json               byte-level BPE (vocabulary 2048) trained on the training documents
  dropout/, no-dropout/        config.json, model.safetensors (fp16), tokenizer.json, tokenizer_config.json
  training.csv                 loss per logged step for both models
  README.md                    the model card (data, size, steps, loss curve, held-out top-1)

PyTorch is used here only to make these checkpoints; Scalpel never runs Python.
"""
import argparse
import csv
import json
import math
import os
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch
from scalpel_reference.pair_corpus import documents, split
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, trainers, processors
import hashlib

from transformers import GPTNeoXConfig, GPTNeoXForCausalLM, OPTConfig, OPTForCausalLM

ROOT = Path(__file__).resolve().parents[2]
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]  # OPT's ids 0..3; "</s>" (2) is the BOS OPT prepends


def train_tokenizer(texts, vocab):
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
                                  show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single="</s> $A", pair="</s> $A </s> $B", special_tokens=[("</s>", 2)])
    return tok


def stream(tok, texts):
    ids = []
    for t in texts:
        ids.extend(tok.encode(t).ids)
    return torch.tensor(ids, dtype=torch.long)


def windows(ids, ctx):
    n = len(ids) // ctx
    return ids[: n * ctx].view(n, ctx)


def model_class(args):
    return GPTNeoXForCausalLM if args.arch == "neox" else OPTForCausalLM


def make_config(args, dropout):
    if args.arch == "neox":
        return GPTNeoXConfig(
            vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
            intermediate_size=args.ffn, num_attention_heads=args.heads, max_position_embeddings=args.context,
            rotary_pct=0.25, rotary_emb_base=10000, hidden_act="gelu", use_parallel_residual=True,
            hidden_dropout=dropout, attention_dropout=0.0, classifier_dropout=0.0, tie_word_embeddings=False,
            bos_token_id=2, eos_token_id=2, pad_token_id=1, layer_norm_eps=1e-5, torch_dtype="float16")
    return OPTConfig(
        vocab_size=args.vocab, hidden_size=args.hidden, num_hidden_layers=args.layers,
        ffn_dim=args.ffn, num_attention_heads=args.heads, max_position_embeddings=args.context,
        word_embed_proj_dim=args.hidden, do_layer_norm_before=True, activation_function="relu",
        dropout=dropout, attention_dropout=0.0, activation_dropout=0.0, layerdrop=0.0,
        pad_token_id=1, bos_token_id=2, eos_token_id=2, tie_word_embeddings=True,
        enable_bias=True, torch_dtype="float16")


@torch.inference_mode()
def heldout_metrics(model, win, batch):
    model.eval()
    total, loss, top1 = 0, 0.0, 0
    for i in range(0, len(win), batch):
        x = win[i:i + batch]
        logits = model(input_ids=x).logits[:, :-1].float()
        y = x[:, 1:]
        loss += torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
        top1 += (logits.argmax(-1) == y).sum().item()
        total += y.numel()
    return {"loss": loss / total, "top1": top1 / total, "predictions": total}


def train_one(name, dropout, args, train_win, init_state, held):
    torch.manual_seed(args.seed)
    model = model_class(args)(make_config(args, dropout))
    model.load_state_dict(init_state)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, betas=(0.9, 0.95), weight_decay=0.1)
    gen = torch.Generator().manual_seed(args.seed)   # same batch order for both models
    log = []
    start = time.time()
    for step in range(1, args.steps + 1):
        lr = args.lr * min(1.0, step / args.warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, step / args.steps))))
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(train_win), (args.batch,), generator=gen)
        x = train_win[idx]
        model.train()
        out = model(input_ids=x, labels=x)
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % args.log_every == 0 or step == 1:
            log.append((step, out.loss.item()))
            print(f"{name}: step {step}/{args.steps} loss {out.loss.item():.4f} ({time.time() - start:.0f} s)", flush=True)
    metrics = {k: heldout_metrics(model, w, args.batch) for k, w in held.items()}
    return model, log, metrics, time.time() - start


def save(model, tok_path, out):
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.half().save_pretrained(tmp, safe_serialization=True)
    shutil.copy(tok_path, tmp / "tokenizer.json")
    (tmp / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "</s>", "eos_token": "</s>",
        "pad_token": "<pad>", "unk_token": "<unk>", "model_max_length": model.config.max_position_embeddings}, indent=2) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", choices=["opt", "neox"], default="opt")
    ap.add_argument("--out", help="default: models/pair (opt), models/pair-neox (neox)")
    ap.add_argument("--tokenizer", help="reuse this tokenizer.json instead of training one (default for neox: models/pair/tokenizer.json)")
    ap.add_argument("--data", default=str(ROOT / "demo-data"))
    ap.add_argument("--vocab", type=int, default=2048)
    ap.add_argument("--hidden", type=int)
    ap.add_argument("--layers", type=int)
    ap.add_argument("--ffn", type=int)
    ap.add_argument("--heads", type=int)
    ap.add_argument("--context", type=int, default=256)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int)
    ap.add_argument("--warmup", type=int)
    ap.add_argument("--lr", type=float)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--log-every", type=int)
    ap.add_argument("--threads", type=int, default=1, help="PyTorch threads per model (the two train in parallel)")
    ap.add_argument("--heldout-only", action="store_true", help="only write demo-data/heldout/ (the experiments' data), no training")
    ap.add_argument("--only", choices=["dropout", "no-dropout"], help="internal: train one model and write its result")
    args = ap.parse_args()
    # each architecture's defaults: the OPT pair's, and the larger NeoX pair's
    defaults = (dict(hidden=320, layers=8, ffn=1280, heads=8, steps=700, warmup=40, lr=2e-3, log_every=20) if args.arch == "neox"
                else dict(hidden=128, layers=4, ffn=512, heads=4, steps=1500, warmup=100, lr=3e-3, log_every=50))
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, v)
    torch.set_num_threads(args.threads)
    if args.out is None:
        args.out = str(ROOT / "models" / ("pair-neox" if args.arch == "neox" else "pair"))
    if args.tokenizer is None and args.arch == "neox":
        args.tokenizer = str(ROOT / "models" / "pair" / "tokenizer.json")
    out = Path(args.out)
    data = Path(args.data)
    if not (data / "prose").is_dir() or not (data / "code").is_dir():
        subprocess.run(["bash", str(ROOT / "Tools" / "demo_data.sh")], check=True)

    prose_train, prose_held = split(documents(data / "prose"))
    code_train, code_held = split(documents(data / "code"))
    out.mkdir(parents=True, exist_ok=True)
    tok_path = out / "tokenizer.json"

    if args.only is None:
        # held-out documents for Scalpel's experiments
        for name, held in (("prose", prose_held), ("code", code_held)):
            dest = data / "heldout" / name
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            for p, _ in held:
                shutil.copy(p, dest / p.name)
        if args.heldout_only:
            print(f"wrote {data / 'heldout'}: {len(prose_held)} prose and {len(code_held)} code documents")
            return
        random.seed(args.seed)
        if args.tokenizer:
            shutil.copy(args.tokenizer, tok_path)
        else:
            tok = train_tokenizer([t for _, t in prose_train + code_train], args.vocab)
            tok.save(str(tok_path))
        # the two trainings run as two processes, one thread each, from the same initial weights
        torch.manual_seed(args.seed)
        init = model_class(args)(make_config(args, 0.0)).state_dict()
        torch.save(init, out / "init.pt")
        own = ["--arch", args.arch, "--out", args.out] + (["--tokenizer", args.tokenizer] if args.tokenizer else [])
        procs = [subprocess.Popen([sys.executable, __file__, *sys.argv[1:], *own, "--only", n]) for n in ("dropout", "no-dropout")]
        if any(p.wait() != 0 for p in procs):
            sys.exit("training failed")
        (out / "init.pt").unlink()
        write_card(args, out, {n: json.loads((out / f"{n}.result.json").read_text()) for n in ("dropout", "no-dropout")},
                   {"prose": (len(prose_train), len(prose_held)), "code": (len(code_train), len(code_held))})
        for n in ("dropout", "no-dropout"):
            (out / f"{n}.result.json").unlink()
        return

    tok = Tokenizer.from_file(str(tok_path))
    prose_ids = stream(tok, [t for _, t in prose_train])
    code_ids = stream(tok, [t for _, t in code_train])
    train_win = torch.cat([windows(prose_ids, args.context), windows(code_ids, args.context)])
    held = {"prose": windows(stream(tok, [t for _, t in prose_held]), args.context),
            "code": windows(stream(tok, [t for _, t in code_held]), args.context)}
    init = torch.load(out / "init.pt")
    dropout = 0.1 if args.only == "dropout" else 0.0
    model, log, metrics, seconds = train_one(args.only, dropout, args, train_win, init, held)
    save(model, tok_path, out / args.only)
    (out / f"{args.only}.result.json").write_text(json.dumps({
        "dropout": dropout, "log": log, "heldout": metrics, "seconds": seconds,
        "parameters": sum(p.numel() for p in model.parameters()),
        "train_tokens": {"prose": len(prose_ids), "code": len(code_ids)},
        "heldout_tokens": {k: int(v.numel()) for k, v in held.items()}}))


def write_card(args, out, results, docs):
    r = results["dropout"]
    with open(out / "training.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss_dropout_0.1", "loss_dropout_0.0"])
        for (s, a), (_, b) in zip(results["dropout"]["log"], results["no-dropout"]["log"]):
            w.writerow([s, f"{a:.4f}", f"{b:.4f}"])
    files = {n: out / n / "model.safetensors" for n in ("dropout", "no-dropout")}
    size = sum(f.stat().st_size for f in files.values())
    digests = {n: hashlib.sha256(f.read_bytes()).hexdigest() for n, f in files.items()}
    tokens = args.steps * args.batch * args.context
    neox = args.arch == "neox"
    name, command = ("GPT-NeoX", "python3 Tools/experiments/train_demo.py --arch neox") if neox else (
        "OPT", "python3 Tools/experiments/train_demo.py")
    minutes = max(results["dropout"]["seconds"], results["no-dropout"]["seconds"]) / 60
    if neox:
        architecture = (f"GPT-NeoX (Pythia's: parallel residual, rotary positions on 25% of each head, GELU, untied output "
                        f"embedding; `hidden_dropout` is the dropout that differs, attention dropout 0): {args.layers} layers, "
                        f"hidden {args.hidden}, FF {args.ffn}, {args.heads} heads, context {args.context}, the OPT pair's "
                        f"byte-level BPE (vocabulary {args.vocab}, `</s>` prepended).")
    else:
        architecture = (f"OPT (pre-norm, ReLU, learned positions, tied embeddings): {args.layers} layers, hidden {args.hidden}, "
                        f"FF {args.ffn}, {args.heads} heads, context {args.context}, byte-level BPE vocabulary {args.vocab} "
                        f"(`tokenizer.json`, trained on the training documents, `</s>` prepended as OPT does).")
    lines = [
        f"# Scalpel's {'larger GPT-NeoX ' if neox else ''}dropout pair",
        "",
        f"Two {name}-architecture language models that differ **only in dropout** (0.1, OPT's",
        "own setting, against 0.0): same tokenizer, same initial weights, same batches in the same order,",
        "same optimizer. They exist to test the paper's explanation of why Pythia (trained without dropout)",
        "prunes less selectively than OPT (trained with it); see `docs/RESULTS.md`.",
        "",
        f"Retrain both (about {minutes:.0f} minutes on 2 cores, one thread per model): `{command}`",
        "",
        "## Data",
        f"- prose: the King James Bible (one document per book) and The Devil's Dictionary (40 kB parts), "
        f"{docs['prose'][0]} documents for training, {docs['prose'][1]} held out;",
        f"- code: the Python {sys.version_info.major}.{sys.version_info.minor} standard library's top-level modules, "
        f"{docs['code'][0]} files for training, {docs['code'][1]} held out.",
        "- Every tenth document of each set in sorted path order is held out; `Tools/experiments/train_demo.py` copies them to",
        "  `demo-data/heldout/{prose,code}/` (not committed; `python3 Tools/experiments/train_demo.py --heldout-only` writes only that).",
        f"- Training tokens: prose {r['train_tokens']['prose']:,}, code {r['train_tokens']['code']:,}; held out: "
        f"prose {r['heldout_tokens']['prose']:,}, code {r['heldout_tokens']['code']:,}.",
        "",
        "## Model",
        f"{architecture} {r['parameters']:,} parameters; stored as fp16 safetensors, {size / 2**20:.1f} MiB for the two.",
        "",
        "SHA-256 of the weights: " + "; ".join(f"`{n}/model.safetensors` {d}" for n, d in digests.items()) + "."
        + (" The weights are not committed (over 16 MiB): the command above reproduces them on a CPU like ours; "
           "bitwise equality across CPUs is not promised (PyTorch's kernels differ by instruction set)." if size > 16 * 2**20 else ""),
        "",
        "## Training",
        f"{args.steps} steps of {args.batch} random windows of {args.context} tokens ({tokens:,} tokens seen, "
        f"about {tokens / (r['train_tokens']['prose'] + r['train_tokens']['code']):.1f} epochs), AdamW (lr {args.lr}, betas 0.9/0.95, "
        f"weight decay 0.1), {args.warmup} warm-up steps then cosine to 10%, gradient clip 1.0, seed {args.seed}, "
        f"PyTorch {torch.__version__} on CPU, one thread per model "
        f"({results['dropout']['seconds'] / 60:.0f} and {results['no-dropout']['seconds'] / 60:.0f} minutes).",
        "",
        "Training loss (one batch, nats; every logged step in `training.csv`):",
        "",
        "| step | dropout 0.1 | dropout 0.0 |",
        "| ---: | ---: | ---: |",
    ]
    log_a, log_b = results["dropout"]["log"], results["no-dropout"]["log"]
    every = max(1, len(log_a) // 10)
    for i, ((s, a), (_, b)) in enumerate(zip(log_a, log_b)):
        if i % every == 0 or i == len(log_a) - 1:
            lines.append(f"| {s} | {a:.3f} | {b:.3f} |")
    lines += [
        "",
        "## Held-out metrics",
        f"All held-out windows of {args.context} tokens, computed by PyTorch in Float32 at the end of training:",
        "",
        "| model | prose loss | prose top-1 | code loss | code top-1 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for n in ("dropout", "no-dropout"):
        h = results[n]["heldout"]
        lines.append(f"| {n} ({results[n]['dropout']}) | {h['prose']['loss']:.3f} | {100 * h['prose']['top1']:.2f}% | "
                     f"{h['code']['loss']:.3f} | {100 * h['code']['top1']:.2f}% |")
    lines += ["", "License: the weights are derived from public-domain prose and the PSF-licensed Python standard library.", ""]
    (out / "README.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
