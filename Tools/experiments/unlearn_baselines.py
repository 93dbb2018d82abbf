#!/usr/bin/env python3
"""Class unlearning on the Fashion-MNIST ViT by the methods the paper compares selective pruning with.

    python3 Tools/experiments/unlearn_baselines.py --forget-class trouser [--out runs/results/vit-baselines]

For one forgotten class, on models/vit-fashion and the same split `scalpel prune` uses in
Tools/experiments/image_results.sh (forget = that class, retain = the other nine; training images
to learn from, test images to measure), runs:

  finetune  fine-tuning on the retain training images only (no forget image is seen): the forget
            class fades by catastrophic forgetting. AdamW, lr 3e-4, --finetune-steps batches of 128.
  ssd       selective synaptic dampening (Foster et al., 2023, arXiv 2308.07707): diagonal Fisher
            importances (mean over batches of the squared gradient of the loss) on the forget
            training images (I_f) and on all training images (I_d); every parameter with
            I_f > alpha * I_d is multiplied by min(lambda * I_d / I_f, 1). alpha 10, lambda 1 (the
            SSD paper's setting). I_d is estimated on --ssd-images training images.

Measured on the test images exactly as `scalpel prune --eval-folder` measures them: forget = every
test image of the class; retain = the first --eval-images test images of the other classes taken
round-robin over the class folders in sorted name order, each in file (index) order. Also top-1 on
all 9,000 retain test images. Writes OUT/CLASS.json (accuracies before/after and seconds per method).

Reads the idx files of Debian's dataset-fashion-mnist directly (the PNG tree holds the same pixels).
"""
import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformers import ViTForImageClassification

from scalpel_reference.fashion_mnist import CLASSES, load, to_pixels
from scalpel_reference.fashion_mnist import top1 as fraction_right

ROOT = Path(__file__).resolve().parents[2]


def round_robin(labels, classes, count):
    """Indices of the images of `classes` (folder names), round-robin over the sorted folder names, index order within each."""
    per = [np.flatnonzero(labels == CLASSES.index(c)) for c in sorted(classes)]
    out = []
    for i in range(max(len(p) for p in per)):
        out += [int(p[i]) for p in per if i < len(p)]
    return out[:count]


def top1(model, x, y):
    return 100.0 * fraction_right(model, x, y)


def fisher(model, x, y, batch):
    """Mean over batches of the squared gradient of the mean cross-entropy, per parameter (eval mode: no dropout)."""
    model.eval()
    acc = {n: torch.zeros_like(p) for n, p in model.named_parameters()}
    batches = 0
    for i in range(0, len(x), batch):
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(pixel_values=x[i:i + batch]).logits, y[i:i + batch]).backward()
        for n, p in model.named_parameters():
            if p.grad is not None:
                acc[n] += p.grad.detach() ** 2
        batches += 1
    return {n: a / batches for n, a in acc.items()}


def ssd(model, forget_x, forget_y, all_x, all_y, alpha, lam, batch):
    i_f = fisher(model, forget_x, forget_y, batch)
    i_d = fisher(model, all_x, all_y, batch)
    changed = total = 0
    with torch.no_grad():
        for n, p in model.named_parameters():
            sel = i_f[n] > alpha * i_d[n]
            beta = torch.clamp(lam * i_d[n] / i_f[n].clamp_min(1e-30), max=1.0)
            p[sel] *= beta[sel]
            changed += int(sel.sum())
            total += p.numel()
    return {"parameters_dampened": changed, "parameters": total}


def finetune(model, x, y, steps, batch, lr, seed):
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.05)
    model.train()
    for _ in range(steps):
        ids = torch.randint(0, len(x), (batch,), generator=gen)
        loss = F.cross_entropy(model(pixel_values=x[ids]).logits, y[ids])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return {"steps": steps, "batch": batch, "lr": lr}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(ROOT / "models" / "vit-fashion"))
    ap.add_argument("--forget-class", required=True, choices=CLASSES)
    ap.add_argument("--eval-images", type=int, default=1000, help="retain test images (scalpel's --eval-tokens)")
    ap.add_argument("--finetune-steps", type=int, default=400)
    ap.add_argument("--finetune-lr", type=float, default=3e-4)
    ap.add_argument("--ssd-images", type=int, default=12000, help="training images for I_d (stratified prefix)")
    ap.add_argument("--alpha", type=float, default=10.0)
    ap.add_argument("--lam", type=float, default=1.0)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(ROOT / "runs" / "results" / "vit-baselines"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    pre = json.loads((Path(args.model) / "preprocessor_config.json").read_text())
    mean, std = pre["image_mean"][0], pre["image_std"][0]
    xtr, ytr = load("train")
    xte, yte = load("test")
    c = CLASSES.index(args.forget_class)
    others = [k for k in CLASSES if k != args.forget_class]

    def pick(x, y, idx):
        idx = np.asarray(idx)
        return to_pixels(x[idx], mean, std), torch.from_numpy(y[idx].astype(np.int64))

    forget_test = pick(xte, yte, np.flatnonzero(yte == c))
    retain_test = pick(xte, yte, round_robin(yte, others, args.eval_images))
    retain_all = pick(xte, yte, np.flatnonzero(yte != c))
    forget_train = pick(xtr, ytr, np.flatnonzero(ytr == c))
    retain_train = pick(xtr, ytr, np.flatnonzero(ytr != c))
    all_train = pick(xtr, ytr, round_robin(ytr, CLASSES, args.ssd_images))

    def fresh():
        return ViTForImageClassification.from_pretrained(args.model, dtype=torch.float32)

    def measure(model):
        return {"forget_top1": top1(model, *forget_test), "retain_top1": top1(model, *retain_test),
                "retain_top1_all": top1(model, *retain_all)}

    result = {"forget_class": args.forget_class, "settings": {k: v for k, v in vars(args).items() if k != "out"},
              "before": measure(fresh()), "methods": {}}
    print(args.forget_class, "before", result["before"], flush=True)
    for name in ["finetune", "ssd"]:
        model = fresh()
        start = time.time()
        if name == "finetune":
            info = finetune(model, *retain_train, args.finetune_steps, args.batch, args.finetune_lr, args.seed)
        else:
            info = ssd(model, *forget_train, *all_train, args.alpha, args.lam, args.batch)
        seconds = time.time() - start
        result["methods"][name] = {**measure(model), "seconds": seconds, **info}
        print(args.forget_class, name, result["methods"][name], flush=True)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f".{args.forget_class}.json.tmp"
    tmp.write_text(json.dumps(result, indent=1) + "\n")
    tmp.rename(out / f"{args.forget_class}.json")


if __name__ == "__main__":
    main()
