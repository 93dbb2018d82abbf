#!/usr/bin/env python3
"""Evaluation speed, side by side in one run: `scalpel eval` against HF transformers on PyTorch
CPU, same model, same windows, same thread count; plus the sgemm rate that bounds both.

    python3 Benchmarks/bench_eval.py [--tokens 4096] [--threads 2] [--runs 3]

Needs a release build (`swift build -c release`) and `pip install torch==2.13.0+cpu transformers
tokenizers safetensors`. Makes the random OPT-125m-shaped model and the data (the Python standard
library) under .bench/ on first use. Prints a table and writes .bench/bench_eval.json.
"""
import argparse, json, statistics, subprocess, sys, sysconfig, time, shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "Tools"))
BENCH = ROOT / ".bench"


def ensure_inputs(shape):
    model = BENCH / f"opt-{shape}"
    if not (model / "model.safetensors").exists():
        subprocess.run([sys.executable, str(ROOT / "Benchmarks/make_model.py"), str(model), "--shape", shape], check=True)
    data = BENCH / "data" / "code"
    if not data.exists():
        data.mkdir(parents=True)
        for p in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
            shutil.copy(p, data / p.name)
    return model, data


def model_flops_per_token(cfg, context):
    d, f, L, V = cfg["hidden_size"], cfg["ffn_dim"], cfg["num_hidden_layers"], cfg["vocab_size"]
    e = cfg.get("word_embed_proj_dim") or d
    matmul_params = L * (4 * d * d + 2 * d * f) + V * e + (2 * d * e if e != d else 0)
    # 2 FLOPs per weight, plus causal attention (QKᵀ and PV over on average context/2 keys)
    return 2 * matmul_params + L * 2 * 2 * d * context / 2


def scalpel_eval(exe, model, data, tokens, context, threads):
    out = BENCH / "scalpel-eval.json"
    subprocess.run([str(exe), "eval", "--model", str(model), "--data", f"code={data}", "--tokens", str(tokens),
                    "--context", str(context), "--threads", str(threads), "--json", str(out)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    j = json.loads(out.read_text())
    t = j["timing"]["code"]
    return t["tokens"] / t["seconds"], j["datasets"]["code"]


def sgemm_rate(exe, threads):
    r = subprocess.run([str(exe), "sgemm", "--threads", str(threads)], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)["gflops"]


def torch_windows(tok, data, context, tokens):
    from make_fixtures import read_documents
    windows, n = [], 0
    for doc in read_documents(data):
        ids = tok.encode(doc).ids
        for w in range(0, len(ids), context):
            win = ids[w:w + context]
            if len(win) < 2:
                continue
            take = min(len(win) - 1, tokens - n)
            windows.append((win, take))
            n += take
            if n >= tokens:
                return windows
    return windows


def torch_eval(model, windows, batch):
    import torch
    # batches of equal-length windows, so no padding is computed
    by_len = {}
    for w in windows:
        by_len.setdefault(len(w[0]), []).append(w)
    loss = top1 = top10 = n = 0
    ran = 0
    start = time.perf_counter()
    with torch.inference_mode():
        for length, group in by_len.items():
            for i in range(0, len(group), batch):
                chunk = group[i:i + batch]
                ids = torch.tensor([w for w, _ in chunk])
                logits = model(ids).logits
                ran += ids.numel()
                for b, (w, take) in enumerate(chunk):
                    lg = logits[b, :take]
                    tgt = ids[b, 1:take + 1]
                    loss += torch.nn.functional.cross_entropy(lg, tgt, reduction="sum").item()
                    tk = lg.topk(10, dim=-1).indices
                    top1 += (tk[:, 0] == tgt).sum().item()
                    top10 += (tk == tgt[:, None]).any(-1).sum().item()
                    n += take
    seconds = time.perf_counter() - start
    return ran / seconds, {"loss": loss / n, "top1": top1 / n, "top10": top10 / n, "predictions": n}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokens", type=int, default=4096)
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--shape", default="125m")
    ap.add_argument("--batches", default="1,4,8")
    a = ap.parse_args()
    exe = ROOT / ".build/release/scalpel"
    if not exe.exists():
        sys.exit("build first: swift build -c release")
    model_dir, data = ensure_inputs(a.shape)
    cfg = json.loads((model_dir / "config.json").read_text())
    flops = model_flops_per_token(cfg, a.context)

    import torch
    from tokenizers import Tokenizer
    from transformers import OPTForCausalLM
    torch.set_num_threads(a.threads)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    windows = torch_windows(tok, data, a.context, a.tokens)
    model = OPTForCausalLM.from_pretrained(model_dir, dtype=torch.float32).eval()

    rows = {"sgemm_gflops": [], "scalpel": []}
    for b in a.batches.split(","):
        rows[f"torch_batch{b}"] = []
    metrics = {}
    for r in range(a.runs):
        rows["sgemm_gflops"].append(sgemm_rate(exe, a.threads))
        tps, metrics["scalpel"] = scalpel_eval(exe, model_dir, data, a.tokens, a.context, a.threads)
        rows["scalpel"].append(tps)
        for b in a.batches.split(","):
            tps, metrics[f"torch_batch{b}"] = torch_eval(model, windows, int(b))
            rows[f"torch_batch{b}"].append(tps)
    med = {k: statistics.median(v) for k, v in rows.items()}
    limit = med["sgemm_gflops"] * 1e9 / flops
    print(f"model: OPT-{a.shape} shape, {flops / 1e6:.0f} MFLOP/token at context {a.context}; "
          f"threads {a.threads}; {a.tokens} predictions; median of {a.runs} runs")
    print(f"sgemm: {med['sgemm_gflops']:.1f} GFLOP/s -> limit {limit:.0f} tokens/s")
    print(f"{'engine':<16}{'tokens/s':>10}{'of limit':>10}")
    for k in rows:
        if k == "sgemm_gflops":
            continue
        print(f"{k:<16}{med[k]:>10.0f}{100 * med[k] / limit:>9.1f}%")
    best_torch = max(v for k, v in med.items() if k.startswith("torch"))
    print(f"scalpel / best torch: {med['scalpel'] / best_torch:.2f}x")
    print("metrics agree:", {k: round(v["loss"], 4) for k, v in metrics.items()})
    (BENCH / "bench_eval.json").write_text(json.dumps({"runs": rows, "median": med, "limit_tokens_per_s": limit,
                                                      "flops_per_token": flops, "metrics": metrics}, indent=1))


if __name__ == "__main__":
    main()
