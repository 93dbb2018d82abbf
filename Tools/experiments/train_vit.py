#!/usr/bin/env python3
"""Trains Scalpel's Fashion-MNIST ViT: a small ViTForImageClassification for the image experiments.

    apt-get install -y dataset-fashion-mnist
    python3 Tools/experiments/train_vit.py            # 39 min on 2 cores shared with another training; writes models/vit-fashion/

Data: Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, the idx files of Zalando's
Fashion-MNIST: 60,000 training and 10,000 test images, 28x28 grey, 10 classes). No download.
The grey image is fed as three equal channels (the image processor converts every image to RGB,
as Scalpel and transformers' processors both do), normalised with the training set's mean and std.

Model: ViT, image 28, patch 7 (16 patches + CLS), dropout 0.1 (hidden and attention), GELU,
pre-norm, as transformers' ViTForImageClassification. Training: AdamW, warm-up then cosine,
horizontal flips (and with --crop random crops), label smoothing 0.1; seed 0. (Patch 4 learned
about a third as fast per second on 2 cores: 62.6% against 79.8% test top-1 after two minutes.) The last epoch's weights
are saved as fp16 safetensors with preprocessor_config.json and a model card (README.md) that
records the test top-1 measured here by PyTorch in Float32 (and again after the fp16 rounding).

PyTorch is used here only to make the checkpoint; Scalpel never runs Python.
"""
import argparse
import json
import math
import shutil
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scalpel_reference.fashion_mnist import CLASSES, load, to_pixels, top1 as accuracy
from transformers import ViTConfig, ViTForImageClassification

ROOT = Path(__file__).resolve().parents[2]


def augment(batch, gen, crop):
    """Horizontal flips; with `crop`, first a random crop with 2 pixels of padding by the background value."""
    n = batch.shape[0]
    out = batch.clone()
    if crop:
        pad = F.pad(batch, (2, 2, 2, 2), value=float(batch.min()))
        dx = torch.randint(0, 5, (n,), generator=gen)
        dy = torch.randint(0, 5, (n,), generator=gen)
        for i in range(n):
            out[i] = pad[i, :, dy[i]:dy[i] + 28, dx[i]:dx[i] + 28]
    flip = torch.rand(n, generator=gen) < 0.5
    out[flip] = out[flip].flip(-1)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "models" / "vit-fashion"))
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--ffn", type=int, default=512)
    ap.add_argument("--patch", type=int, default=7)
    ap.add_argument("--crop", action="store_true", help="random crops as well as flips")
    ap.add_argument("--dropout", type=float, default=0.1)
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=300, help="warm-up steps")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    xtr, ytr = load("train")
    xte, yte = load("test")
    mean, std = float(xtr.mean() / 255.0), float(xtr.std() / 255.0)
    mean, std = round(mean, 4), round(std, 4)
    train_x, test_x = to_pixels(xtr, mean, std), to_pixels(xte, mean, std)
    train_y, test_y = torch.from_numpy(ytr.astype(np.int64)), torch.from_numpy(yte.astype(np.int64))

    cfg = ViTConfig(image_size=28, patch_size=args.patch, num_channels=3, hidden_size=args.hidden,
                    num_hidden_layers=args.layers, num_attention_heads=args.heads, intermediate_size=args.ffn,
                    hidden_act="gelu", hidden_dropout_prob=args.dropout, attention_probs_dropout_prob=args.dropout,
                    num_labels=len(CLASSES), id2label=dict(enumerate(CLASSES)),
                    label2id={c: i for i, c in enumerate(CLASSES)})
    model = ViTForImageClassification(cfg)
    params = sum(p.numel() for p in model.parameters())
    steps_per_epoch = len(train_x) // args.batch
    total = steps_per_epoch * args.epochs
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embeddings" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embeddings" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.05}, {"params": rest, "weight_decay": 0.0}],
                            lr=args.lr, betas=(0.9, 0.999))

    def lr_at(step):
        if step < args.warmup:
            return args.lr * (step + 1) / args.warmup
        p = (step - args.warmup) / max(1, total - args.warmup)
        return args.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * p)))

    print(f"ViT {params:,} parameters; {args.epochs} epochs of {steps_per_epoch} steps; mean {mean} std {std}", flush=True)
    log, step, start = [], 0, time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(train_x), generator=gen)
        running = 0.0
        for b in range(steps_per_epoch):
            ids = order[b * args.batch:(b + 1) * args.batch]
            x = augment(train_x[ids], gen, args.crop)
            for g in opt.param_groups:
                g["lr"] = lr_at(step)
            loss = F.cross_entropy(model(pixel_values=x).logits, train_y[ids], label_smoothing=0.1)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            running += loss.item()
            step += 1
        acc = accuracy(model, test_x, test_y)
        minutes = (time.time() - start) / 60
        log.append({"epoch": epoch + 1, "train_loss": running / steps_per_epoch, "test_top1": acc, "minutes": minutes})
        print(f"epoch {epoch + 1}: train loss {running / steps_per_epoch:.4f}  test top-1 {100 * acc:.2f}%  {minutes:.1f} min",
              flush=True)

    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    model.eval()
    f32 = accuracy(model, test_x, test_y)
    model.half()
    model.save_pretrained(tmp)
    model.float()
    f16 = accuracy(model, test_x, test_y)
    (tmp / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 28, "width": 28},
        "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [mean] * 3, "image_std": [std] * 3}, indent=2) + "\n")
    (tmp / "training.json").write_text(json.dumps({"args": vars(args), "parameters": params, "epochs": log,
                                                   "test_top1_f32": f32, "test_top1_f16": f16}, indent=1) + "\n")
    write_card(tmp, args, params, log, f32, f16, mean, std, (time.time() - start) / 60)
    if out.exists():
        shutil.rmtree(out)
    tmp.rename(out)
    print(f"wrote {out}: test top-1 {100 * f32:.2f}% (Float32), {100 * f16:.2f}% (after fp16 rounding)")


def write_card(folder, args, params, log, f32, f16, mean, std, minutes):
    rows = "\n".join(f"| {e['epoch']} | {e['train_loss']:.4f} | {100 * e['test_top1']:.2f}% | {e['minutes']:.1f} |" for e in log)
    size = (folder / "model.safetensors").stat().st_size / 2**20
    (folder / "README.md").write_text(f"""# Scalpel's Fashion-MNIST ViT

A small Vision Transformer trained from scratch for Scalpel's image experiments (class unlearning,
`docs/RESULTS.md`). Retrain: `apt-get install -y dataset-fashion-mnist && python3 Tools/experiments/train_vit.py`.

## Data
Fashion-MNIST (Zalando Research, MIT licence) from Debian's `dataset-fashion-mnist` package: 60,000 training
and 10,000 test images, 28×28 grey, 10 classes ({", ".join(CLASSES)}). Training used only the 60,000
training images; the test images were used only to measure accuracy. The grey image is fed as three equal
channels; `preprocessor_config.json` rescales by 1/255 and normalises with the training set's mean {mean} and
std {std} (size 28×28, so resizing is the identity). `python3 Tools/data/fashion_mnist_folders.py` writes both
splits as ImageFolder trees of PNG files for `scalpel`.

## Model
`ViTForImageClassification` (transformers): image 28, patch {args.patch} ({(28 // args.patch) ** 2} patches + CLS token), {args.layers} layers,
hidden {args.hidden}, {args.heads} heads, FF {args.ffn} (GELU), dropout {args.dropout} (hidden and attention), layer-norm
eps 1e-12. {params:,} parameters; stored as fp16 safetensors ({size:.1f} MiB).

## Training
{args.epochs} epochs × {60000 // args.batch} steps of {args.batch} images, AdamW (lr {args.lr}, betas 0.9/0.999,
weight decay 0.05 on matrices), {args.warmup} warm-up steps then cosine to 2%, gradient clip 1.0, label smoothing 0.1,
horizontal flips{" and random crops (2-pixel padding)" if args.crop else ""}, seed {args.seed}; PyTorch {torch.__version__} on CPU,
{args.threads} threads, {minutes:.0f} minutes.

| epoch | train loss | test top-1 | minutes |
| ---: | ---: | ---: | ---: |
{rows}

## Test accuracy
Top-1 on the 10,000 test images, PyTorch: **{100 * f32:.2f}%** in Float32 before saving, {100 * f16:.2f}% with the
saved fp16 weights. Scalpel on the same images (the PNG tree above):

    scalpel eval --model models/vit-fashion --data demo-data/fashion-mnist/test
""")


if __name__ == "__main__":
    main()
