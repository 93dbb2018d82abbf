#!/usr/bin/env python3
"""Relearning check: does a briefly fine-tuned pruned model get its forgotten capability back?

    python3 Tools/experiments/relearn.py RUN_DIR [--steps 200] [--batch 8] [--lr 1e-4] [--json OUT]

Reads the run's settings (history.json: model, forget, retain, context, collect/eval tokens) and
its exported checkpoint (RUN_DIR/model). Four fine-tunes of `--steps` AdamW steps on windows of one
data set taken after its evaluation portion (predictions [collect_tokens + eval_tokens, end): text
neither the statistics nor the evaluation saw), each evaluated on the evaluation portions
(predictions [collect_tokens, collect_tokens + eval_tokens)) of both sets, exactly the windows
`scalpel prune` evaluates:
  pruned   + forget text    how much forget top-1 comes back (the relearning question)
  pruned   + retain text    control: does any training bring it back?
  original + forget text    the same training on the unpruned model, for scale
  original + retain text
Pruned weights are free to move during fine-tuning (nothing holds them at zero): this measures
relearning of the capability, not of a frozen mask. PyTorch only; Scalpel never runs Python.
"""
import argparse, json, sys, time
from pathlib import Path

import torch
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM

from scalpel_reference.data import select_windows  # METHOD.md §6 windows, independent of Scalpel


@torch.inference_mode()
def evaluate(model, wins):
    model.eval()
    top1 = n = 0
    loss = 0.0
    for ids, lo, hi in wins:
        x = torch.tensor([ids])
        logits = model(input_ids=x).logits[0, lo:hi].float()
        y = x[0, lo + 1:hi + 1]
        loss += torch.nn.functional.cross_entropy(logits, y, reduction="sum").item()
        top1 += (logits.argmax(-1) == y).sum().item()
        n += hi - lo
    return {"top1": top1 / n, "loss": loss / n, "predictions": n}


def finetune(model_dir, train, steps, batch, lr, seed):
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(seed)
    # training examples: the kept prediction span of each window, inputs ids[lo..hi]
    examples = [torch.tensor(ids[lo:hi + 1]) for ids, lo, hi in train]
    for _ in range(steps):
        idx = torch.randint(0, len(examples), (batch,), generator=gen).tolist()
        length = min(len(examples[i]) for i in idx)
        x = torch.stack([examples[i][:length] for i in idx])
        loss = model(input_ids=x, labels=x).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return model


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("run")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the results here")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    run = Path(a.run)
    history = json.loads((run / "history.json").read_text())
    cfg = history["config"]
    pruned_dir = run / "model"
    if not (pruned_dir / "model.safetensors").exists():
        sys.exit(f"{pruned_dir}: no exported checkpoint (the run has not finished)")
    context = cfg.get("context") or 1024
    tok = Tokenizer.from_file(str(pruned_dir / "tokenizer.json"))
    c, e = cfg["collect_tokens"], cfg["eval_tokens"]
    train = {k: select_windows(tok, cfg[k], context, c + e, None) for k in ("forget", "retain")}
    for k, w in train.items():
        if sum(hi - lo for _, lo, hi in w) < 1000:
            sys.exit(f"{cfg[k]}: fewer than 1000 predictions after the evaluation portion to fine-tune on")
    evals = {k: select_windows(tok, cfg[k], context, c, e) for k in ("forget", "retain")}

    results = {"run": str(run), "steps": a.steps, "batch": a.batch, "lr": a.lr, "seed": a.seed,
               "train_predictions": {k: sum(hi - lo for _, lo, hi in w) for k, w in train.items()}}
    start = time.time()
    for label, model_dir in (("original", cfg["model"]), ("pruned", str(pruned_dir))):
        base = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
        results[label] = {"before": {k: evaluate(base, w) for k, w in evals.items()}}
        for text in ("forget", "retain"):
            tuned = finetune(model_dir, train[text], a.steps, a.batch, a.lr, a.seed)
            results[label]["after_" + text] = {k: evaluate(tuned, w) for k, w in evals.items()}
            print(f"{label} + {text} text: forget top1 {100 * results[label]['after_' + text]['forget']['top1']:.2f}%, "
                  f"retain top1 {100 * results[label]['after_' + text]['retain']['top1']:.2f}% ({time.time() - start:.0f} s)", flush=True)
    last = history["steps"][-1]["metrics"]
    p0 = results["pruned"]["before"]
    # consistency with Scalpel's own evaluation of the same windows (float summation order aside)
    results["scalpel_last_step"] = {k: last[k]["top1"] for k in ("forget", "retain")}
    o, p = results["original"], results["pruned"]
    recovered = (p["after_forget"]["forget"]["top1"] - p["before"]["forget"]["top1"]) / max(1e-9, o["before"]["forget"]["top1"] - p["before"]["forget"]["top1"])
    results["forget_gap_recovered"] = recovered
    print()
    print(f"{'':<26}{'forget top1':>12}{'retain top1':>12}")
    for label in ("original", "pruned"):
        for key in ("before", "after_forget", "after_retain"):
            r = results[label][key]
            name = {"before": "as is", "after_forget": f"+{a.steps} steps on forget", "after_retain": f"+{a.steps} steps on retain"}[key]
            print(f"{label + ' ' + name:<26}{100 * r['forget']['top1']:>11.2f}%{100 * r['retain']['top1']:>11.2f}%")
    print(f"Scalpel's last step: forget {100 * last['forget']['top1']:.2f}%, retain {100 * last['retain']['top1']:.2f}% "
          f"(PyTorch here: {100 * p0['forget']['top1']:.2f}%, {100 * p0['retain']['top1']:.2f}%)")
    print(f"fine-tuning on forget text recovers {100 * recovered:.0f}% of the forget top-1 that pruning removed")
    if a.json:
        Path(a.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
