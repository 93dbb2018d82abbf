#!/usr/bin/env python3
"""Prints the Markdown tables of docs/RESULTS.md from the run folders under runs/results/.

    python3 Tools/experiments/results_table.py [runs/results]

For each run: Top1 Max Δ (max over steps of forget top-1 drop − retain top-1 drop, METHOD.md §6) and
its step, the drops at that step, and the drops at fixed fractions pruned, read from history.json.
"""
import json, sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "runs/results")


def load(name):
    p = root / name / "history.json"
    return json.loads(p.read_text()) if p.exists() else None


def at(h, step):
    for s in h["steps"]:
        if s["step"] == step:
            return s
    return None


def row(name, label, h, fixed_steps):
    totals = h["totals"]
    kind = "ff" if h["config"]["ff_frac"] > 0 else "attn"
    frac = h["config"]["ff_frac"] or h["config"]["attn_frac"]
    md = h.get("top1_max_delta")
    if md is None:
        return f"| {label} | – | – | – | – |" + " – |" * len(fixed_steps)
    s = at(h, md["step"])
    cells = [f"{md['value']:.1f}", f"{md['step']} ({100 * frac * md['step']:.0f}%)",
             f"{s['drops']['forget']['top1']:.1f}", f"{s['drops']['retain']['top1']:.1f}"]
    for k in fixed_steps:
        t = at(h, k)
        cells.append(f"{t['drops']['forget']['top1']:.1f} / {t['drops']['retain']['top1']:.1f}" if t else "–")
    return f"| {label} | " + " | ".join(cells) + " |"


def table(title, runs, fixed_steps, frac=0.02):
    present = [(n, l, load(n)) for n, l in runs]
    present = [(n, l, h) for n, l, h in present if h]
    if not present:
        return
    print(f"### {title}\n")
    head = "| run | Top1 Max Δ | at step (pruned) | forget drop | retain drop |" + "".join(
        f" forget / retain drop at {100 * frac * k:.0f}% |" for k in fixed_steps)
    print(head)
    print("|" + " --- |" * (5 + len(fixed_steps)))
    for n, l, h in present:
        print(row(n, l, h, fixed_steps))
    base = present[0][2]["steps"][0]["metrics"]
    print(f"\nBefore pruning: forget top-1 {100 * base['forget']['top1']:.2f}%, retain top-1 {100 * base['retain']['top1']:.2f}% "
          f"({base['forget']['predictions']} and {base['retain']['predictions']} predictions).\n")


for m in ("dropout", "no-dropout"):
    label = "dropout 0.1" if m == "dropout" else "dropout 0.0"
    table(f"Dropout pair, {label}: forget code, retain prose (2% per step)", [
        (f"pair-{m}-ff-abs", "FF, abs (selective)"),
        (f"pair-{m}-ff-random", "FF, random"),
        (f"pair-{m}-attn-abs", "attention neurons, abs"),
        (f"pair-{m}-ff-abs-oneshot", "FF, abs, one-shot"),
        (f"pair-{m}-ff-freq", "FF, freq"),
        (f"pair-{m}-ff-sqrt", "FF, sqrt"),
        (f"pair-{m}-ff-rms", "FF, rms"),
        (f"pair-{m}-ff-std", "FF, std"),
        (f"pair-{m}-ff-mean", "FF, mean"),
    ], [1, 5, 10, 20, 40])

table("SmolLM2-135M-Instruct: forget Python code, retain prose (2% per step)", [
    ("smollm2-ff-abs", "FF, abs (selective)"),
    ("smollm2-ff-random", "FF, random"),
    ("smollm2-attn-abs", "attention neurons, abs"),
    ("smollm2-ff-abs-oneshot", "FF, abs, one-shot"),
    ("smollm2-ff-freq", "FF, freq"),
    ("smollm2-ff-sqrt", "FF, sqrt"),
    ("smollm2-ff-rms", "FF, rms"),
    ("smollm2-ff-std", "FF, std"),
    ("smollm2-ff-mean", "FF, mean"),
], [1, 3, 5])

for m in ("dropout", "no-dropout"):
    p = root / f"relearn-{m}.json"
    if not p.exists():
        continue
    r = json.loads(p.read_text())
    print(f"### Relearning, dropout pair ({m}): {r['steps']} AdamW steps of batch {r['batch']}, lr {r['lr']}, on {r['train_predictions']['forget']:,} forget and {r['train_predictions']['retain']:,} retain predictions after the evaluation portions\n")
    print("| model | forget top-1 | retain top-1 |")
    print("| --- | ---: | ---: |")
    for who in ("original", "pruned"):
        for key, name in (("before", "as is"), ("after_forget", "fine-tuned on forget text"), ("after_retain", "fine-tuned on retain text")):
            x = r[who][key]
            print(f"| {who}, {name} | {100 * x['forget']['top1']:.2f}% | {100 * x['retain']['top1']:.2f}% |")
    print(f"\nFine-tuning on forget text recovers {100 * r['forget_gap_recovered']:.0f}% of the forget top-1 that pruning removed.\n")

# the masked LM, beside the causal pair it shares data and tokenizer with
table("Masked LM (RoBERTa architecture, dropout 0.1): forget code, retain prose (2% per step; masked-token top-1)", [
    ("mlm-ff-abs", "FF, abs (selective)"),
    ("mlm-ff-random", "FF, random"),
    ("mlm-attn-abs", "attention neurons, abs"),
    ("mlm-attn-random", "attention neurons, random"),
], [1, 5, 10, 20, 25])

for m in ("dropout", "no-dropout"):
    label = "dropout 0.1" if m == "dropout" else "dropout 0.0"
    table(f"GPT-NeoX pair, {label}: forget code, retain prose (2% per step)", [
        (f"neox-{m}-ff-abs", "FF, abs (selective)"),
        (f"neox-{m}-ff-random", "FF, random"),
        (f"neox-{m}-attn-abs", "attention neurons, abs"),
    ], [1, 5, 10, 20, 40])


def dropout_table():
    """Claim (c) side by side: both pairs' dropout and no-dropout models, the same three runs each."""
    pairs = [("pair", "OPT, 1.09M parameters"), ("neox", "GPT-NeoX, 11.2M parameters")]
    rows = []
    for prefix, name in pairs:
        for m, label in (("dropout", "0.1"), ("no-dropout", "0.0")):
            hs = [load(f"{prefix}-{m}-{k}") for k in ("ff-abs", "ff-random", "attn-abs")]
            if not all(hs):
                continue
            before = hs[0]["steps"][0]["metrics"]
            deltas = [f"{h['top1_max_delta']['value']:.1f}" if h.get("top1_max_delta") else "–" for h in hs]
            ten = at(hs[0], 5)
            rows.append(f"| {name} | {label} | {100 * before['forget']['top1']:.2f}% / {100 * before['retain']['top1']:.2f}% | "
                        + " | ".join(deltas)
                        + f" | {ten['drops']['forget']['top1']:.1f} / {ten['drops']['retain']['top1']:.1f} |")
    if not rows:
        return
    print("### Claim (c) side by side: dropout against no dropout, both pairs (forget code, retain prose, 2% per step)\n")
    print("| pair | dropout | top-1 before (code / prose) | Top1 Max Δ, FF selective | FF random | attention selective "
          "| FF selective, forget / retain drop at 10% |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    print("\n".join(rows) + "\n")


dropout_table()


def image_table(classes):
    """Class unlearning on the Fashion-MNIST ViT: ours (at Top1 Max Δ) against random pruning, fine-tuning and SSD."""
    rows = []
    for c in classes:
        base = root / "vit-baselines" / f"{c}.json"
        runs = [(f"vit-{c}-ff-abs", "selective pruning, FF (ours)"), (f"vit-{c}-attn-abs", "selective pruning, attention (ours)"),
                (f"vit-{c}-ff-random", "random pruning, FF")]
        hs = [(l, load(n)) for n, l in runs]
        if not any(h for _, h in hs) and not base.exists():
            continue
        before = next((h["steps"][0]["metrics"] for _, h in hs if h), None)
        if before:
            rows.append(f"| {c} | before | {100 * before['forget']['top1']:.1f} | {100 * before['retain']['top1']:.1f} | – | – | – |")
        for l, h in hs:
            if not h or h.get("top1_max_delta") is None:
                continue
            md = h["top1_max_delta"]
            s = at(h, md["step"])
            frac = h["config"]["ff_frac"] or h["config"]["attn_frac"]
            seconds = sum(t["phase_seconds"]["collect"] + t["phase_seconds"]["select_prune"]
                          for t in h["steps"] if 0 < t["step"] <= md["step"])
            rows.append(f"| {c} | {l} | {100 * s['metrics']['forget']['top1']:.1f} | {100 * s['metrics']['retain']['top1']:.1f} | "
                        f"{md['value']:.1f} (step {md['step']}, {100 * frac * md['step']:.0f}% pruned) | {seconds:.0f} | "
                        f"`{h['config'].get('ff_metric') if h['config']['ff_frac'] else h['config'].get('attn_metric')}` |")
        if base.exists():
            b = json.loads(base.read_text())
            fb, rb = b["before"]["forget_top1"], b["before"]["retain_top1"]
            for key, label in (("finetune", f"fine-tune on retain ({b['methods']['finetune']['steps']} steps)"),
                               ("ssd", f"SSD (α {b['settings']['alpha']:g}, λ {b['settings']['lam']:g})")):
                r = b["methods"][key]
                delta = 100 * (1 - r["forget_top1"] / fb) - 100 * (1 - r["retain_top1"] / rb) if fb and rb else float("nan")
                rows.append(f"| {c} | {label} | {r['forget_top1']:.1f} | {r['retain_top1']:.1f} | {delta:.1f} (Δ of drops) | "
                            f"{r['seconds']:.0f} | – |")
    if not rows:
        return
    print("### Fashion-MNIST ViT: forget one class, retain the other nine (test images)\n")
    print("| class | method | forget top-1 % | retain top-1 % | Top1 Max Δ (where) | seconds | metric |")
    print("| --- | --- | ---: | ---: | --- | ---: | --- |")
    print("\n".join(rows) + "\n")


image_table(["trouser", "shirt", "bag"])
