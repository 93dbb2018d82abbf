#!/usr/bin/env python3
"""Scalpel against HF transformers on PyTorch CPU, side by side in one run: same random-init
OPT-shaped model, same token windows, same thread count.

    python3 Benchmarks/bench.py [--tokens 4096] [--threads 2] [--runs 5] [--shape 125m]
    python3 Benchmarks/bench.py --only steps      # per-step timings, compaction on and off
    python3 Benchmarks/bench.py --only scaling    # Scalpel's time per token vs context and model size
    python3 Benchmarks/bench.py --dtypes f32,bf16 # Float32, then BF16 (Scalpel --dtype bf16 against
                                                  # PyTorch with dtype=torch.bfloat16), in one run

Measures, per run: (a) evaluation (full forward, loss, top-1, top-10); (b) statistics collection
of both probe kinds (FF and attention pre-out), LM head skipped; (c) one whole pruning step
(collect forget + retain, score, select 2% of FF neurons, prune, evaluate forget + retain);
(d) the peak resident memory of each engine's process for (c); and the sgemm rate of Scalpel's
BLAS path, which bounds both engines: each throughput is printed as a fraction of the limit
that rate implies (the model's matmul FLOPs per token / sgemm FLOP/s), against the mean of the
sgemm rates measured just before and just after that throughput (the machine's speed drifts).

PyTorch is run as a good Python user would: `torch.inference_mode()`, threads set, windows of
equal length batched without padding, batch sizes 1 and 4 tried (the best is reported), the LM
head skipped for collection (`model.model(...)`), statistics accumulated in float64 by vectorised
forward-pre-hooks on `fc2` and `out_proj`. Every engine runs in its own process so its peak RSS
is its own. Needs a release build (`swift build -c release`) and torch/transformers/tokenizers.
Writes .bench/bench.json (and bench-steps.json, bench-scaling.json).
"""
import argparse, json, os, statistics, subprocess, sys, sysconfig, time, shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"
EXE = ROOT / ".build/release/scalpel"
DTYPE = ["f32"]  # the --dtype of the comparison being run (main_compare sets it)


# ---------------------------------------------------------------- inputs

def ensure_model(shape):
    model = BENCH / f"opt-{shape}"
    if not (model / "model.safetensors").exists():
        subprocess.run([sys.executable, str(ROOT / "Benchmarks/make_model.py"), str(model), "--shape", shape], check=True)
    return model


def ensure_data():
    """code: the stdlib's top-level modules; forget/retain: its even/odd files (distinct sets)."""
    data = BENCH / "data"
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))
    for name, pick in (("code", files), ("forget", files[0::2]), ("retain", files[1::2])):
        d = data / name
        if not d.exists():
            tmp = data / (name + ".tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
            for p in pick:
                shutil.copy(p, tmp / p.name)
            tmp.rename(d)
    return data


def matmul_flops_per_token(cfg, context, head=True):
    d, f, L, V = cfg["hidden_size"], cfg["ffn_dim"], cfg["num_hidden_layers"], cfg["vocab_size"]
    e = cfg.get("word_embed_proj_dim") or d
    params = L * (4 * d * d + 2 * d * f) + (V * e if head else 0) + (2 * d * e if e != d else 0)
    # 2 FLOPs per weight, plus causal attention (QKᵀ and PV over on average context/2 keys)
    return 2 * params + L * 2 * 2 * d * context / 2


def spawn_with_rss(cmd):
    """Runs cmd and returns (stdout, stderr, peak RSS MiB) using wait4 on the child."""
    import tempfile
    with tempfile.TemporaryFile("w+") as o, tempfile.TemporaryFile("w+") as e:
        p = subprocess.Popen(cmd, stdout=o, stderr=e, text=True)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        o.seek(0); e.seek(0)
        out, err = o.read(), e.read()
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{err[-3000:]}")
    return out, err, ru.ru_maxrss / 1024


# ---------------------------------------------------------------- Scalpel side

def sgemm_rate(threads):
    """The matmul rate of Scalpel's BLAS path in the current dtype (Float32 sgemm, or the BF16 engine)."""
    r = subprocess.run([str(EXE), "sgemm", "--threads", str(threads), "--dtype", DTYPE[0]], check=True, capture_output=True, text=True)
    return json.loads(r.stdout)["gflops"]


def scalpel_eval(model, data, tokens, context, threads):
    out = BENCH / "scalpel-eval.json"
    spawn_with_rss([str(EXE), "eval", "--model", str(model), "--data", f"code={data}", "--tokens", str(tokens),
                    "--context", str(context), "--threads", str(threads), "--dtype", DTYPE[0], "--json", str(out)])
    j = json.loads(out.read_text())
    t = j["timing"]["code"]
    return t["tokens"] / t["seconds"], j["datasets"]["code"]


def scalpel_collect(model, data, tokens, context, threads):
    _, err, _ = spawn_with_rss([str(EXE), "collect", "--model", str(model), "--data", str(data), "--tokens", str(tokens),
                                "--context", str(context), "--threads", str(threads), "--dtype", DTYPE[0],
                                "--out", str(BENCH / "stats.safetensors")])
    # "collected N positions (T tokens run) in S s (R tokens/s)"
    line = [l for l in err.splitlines() if l.startswith("collected")][-1]
    words = line.split()
    return int(words[3].lstrip("(")) / float(words[7])


def scalpel_prune(model, data, collect, evaluate, context, threads, steps=1, ff_frac=0.02, extra=()):
    run = BENCH / "run"
    shutil.rmtree(run, ignore_errors=True)
    _, _, rss = spawn_with_rss([str(EXE), "prune", "--model", str(model), "--forget", str(data / "forget"),
                                "--retain", str(data / "retain"), "--collect-tokens", str(collect), "--eval-tokens", str(evaluate),
                                "--context", str(context), "--threads", str(threads), "--steps", str(steps),
                                "--ff-frac", str(ff_frac), "--dtype", DTYPE[0], "--out", str(run), *extra])
    history = json.loads((run / "history.json").read_text())
    return history, rss


# ---------------------------------------------------------------- PyTorch side (a worker process)

def torch_windows(tok, data, context, tokens, skip=0):
    """Scalpel's windows (METHOD.md §6) covering predictions [skip, skip + tokens): [(ids, lo, hi)]."""
    from scalpel_reference.data import select_windows
    return select_windows(tok, data, context, skip, tokens)


def batches(windows, batch):
    by_len = {}
    for w in windows:
        by_len.setdefault(len(w[0]), []).append(w)
    for group in by_len.values():
        for i in range(0, len(group), batch):
            yield group[i:i + batch]


def torch_eval(model, windows, batch):
    import torch
    loss = top1 = top10 = n = ran = 0
    for chunk in batches(windows, batch):
        ids = torch.tensor([w for w, _, _ in chunk])
        logits = model(ids).logits
        ran += ids.numel()
        for b, (w, lo, hi) in enumerate(chunk):
            lg, tgt = logits[b, lo:hi].float(), ids[b, lo + 1:hi + 1]
            loss += torch.nn.functional.cross_entropy(lg, tgt, reduction="sum").item()
            tk = lg.topk(10, dim=-1).indices
            top1 += (tk[:, 0] == tgt).sum().item()
            top10 += (tk == tgt[:, None]).any(-1).sum().item()
            n += hi - lo
    return ran, {"loss": loss / n, "top1": top1 / n, "top10": top10 / n, "predictions": n}


class TorchStats:
    """float64 sums of FF (fc2 input) and attention pre-out (out_proj input) activations."""

    def __init__(self, model):
        import torch
        self.layers = model.model.decoder.layers
        self.sums = {}
        self.rows = None
        for i, layer in enumerate(self.layers):
            layer.fc2.register_forward_pre_hook(self.hook(("ff", i)))
            layer.self_attn.out_proj.register_forward_pre_hook(self.hook(("attn", i)))

    def reset(self):
        self.sums = {}

    def hook(self, key):
        import torch

        def fn(module, args):
            x = args[0]
            x = x.reshape(-1, x.shape[-1]) if self.rows is None else x.reshape(-1, x.shape[-1])[self.rows]
            x = x.double()
            a = x.abs()
            s = torch.stack([x.sum(0), a.sum(0), a.sqrt().sum(0), (x * x).sum(0), (x > 0).double().sum(0)])
            if key in self.sums:
                self.sums[key][0] += x.shape[0]
                self.sums[key][1] += s
            else:
                self.sums[key] = [x.shape[0], s]
        return fn

    def collect(self, model, windows, batch):
        import torch
        self.reset()
        ran = 0
        for chunk in batches(windows, batch):
            ids = torch.tensor([w for w, _, _ in chunk])
            T = ids.shape[1]
            self.rows = torch.cat([torch.arange(b * T + lo, b * T + hi) for b, (_, lo, hi) in enumerate(chunk)])
            model.model(ids)   # the decoder only: no LM head
            ran += ids.numel()
        self.rows = None
        return ran

    def abs_means(self, kind):
        import torch
        return torch.stack([self.sums[(kind, i)][1][1] / self.sums[(kind, i)][0] for i in range(len(self.layers))])


def torch_worker(a):
    import torch
    from tokenizers import Tokenizer
    from transformers import OPTForCausalLM
    torch.set_num_threads(a.threads)
    model_dir = Path(a.model)
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    # as a PyTorch user runs in BF16: the whole model loaded with dtype=torch.bfloat16
    model = OPTForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16 if a.dtype == "bf16" else torch.float32).eval()
    data = Path(a.data)
    result = {}
    with torch.inference_mode():
        if a.torch_worker == "eval":
            win = torch_windows(tok, data / "code", a.context, a.tokens)
            for b in a.batches:
                start = time.perf_counter()
                ran, metrics = torch_eval(model, win, b)
                result[f"batch{b}"] = {"tokens_per_s": ran / (time.perf_counter() - start), "metrics": metrics}
        elif a.torch_worker == "collect":
            stats = TorchStats(model)
            win = torch_windows(tok, data / "code", a.context, a.tokens)
            for b in a.batches:
                start = time.perf_counter()
                ran = stats.collect(model, win, b)
                result[f"batch{b}"] = {"tokens_per_s": ran / (time.perf_counter() - start)}
        elif a.torch_worker == "step":
            stats = TorchStats(model)
            fc, rc = (torch_windows(tok, data / n, a.context, a.collect) for n in ("forget", "retain"))
            fe, re_ = (torch_windows(tok, data / n, a.context, a.evaluate, skip=a.collect) for n in ("forget", "retain"))
            b = a.batches[0]
            start = time.perf_counter()
            stats.collect(model, fc, b)
            forget = stats.abs_means("ff")
            stats.collect(model, rc, b)
            retain = stats.abs_means("ff")
            t_collect = time.perf_counter()
            scores = (forget / (retain + 1e-3)).flatten()
            k = int(0.02 * scores.numel())
            picked = scores.topk(k).indices
            f = model.config.ffn_dim
            for i in picked.tolist():
                model.model.decoder.layers[i // f].fc2.weight[:, i % f] = 0
            t_prune = time.perf_counter()
            _, mf = torch_eval(model, fe, b)
            _, mr = torch_eval(model, re_, b)
            end = time.perf_counter()
            result = {"seconds": end - start, "collect": t_collect - start, "select_prune": t_prune - t_collect,
                      "evaluate": end - t_prune, "metrics": {"forget": mf, "retain": mr}, "batch": b}
    print(json.dumps(result))


def torch_run(task, a, model, batches, **kw):
    cmd = [sys.executable, __file__, "--torch-worker", task, "--model", str(model), "--data", str(BENCH / "data"),
           "--threads", str(a.threads), "--context", str(a.context), "--tokens", str(a.tokens),
           "--batches", ",".join(map(str, batches)), "--dtype", DTYPE[0]]
    for k, v in kw.items():
        cmd += [f"--{k}", str(v)]
    out, _, rss = spawn_with_rss(cmd)
    return json.loads(out.strip().splitlines()[-1]), rss


# ---------------------------------------------------------------- the benchmarks

def main_compare(a):
    """Every dtype of --dtypes in turn, Scalpel and PyTorch side by side in each."""
    for dtype in a.dtypes.split(","):
        DTYPE[0] = dtype
        print(f"\n=== {dtype} ===", flush=True)
        compare(a, dtype)


def compare(a, dtype):
    model = ensure_model(a.shape)
    data = ensure_data()
    cfg = json.loads((model / "config.json").read_text())
    full = matmul_flops_per_token(cfg, a.context)
    body = matmul_flops_per_token(cfg, a.context, head=False)
    rows = {k: [] for k in ["sgemm_gflops", "eval_scalpel", "eval_torch", "collect_scalpel", "collect_torch",
                            "step_scalpel", "step_torch", "rss_scalpel", "rss_torch"]}
    # share of the sgemm limit, per run, against the sgemm rate measured just before and just after
    # that measurement (the shared machine's speed drifts by up to a quarter within minutes)
    shares = {k: [] for k in ["eval_scalpel", "eval_torch", "collect_scalpel", "collect_torch"]}
    detail = []

    def bracketed(key, flops, measure):
        before = sgemm_rate(a.threads)
        value, extra = measure()
        after = sgemm_rate(a.threads)
        rows[key].append(value)
        rows["sgemm_gflops"] += [before, after]
        shares[key].append(value * flops / ((before + after) / 2 * 1e9))
        return extra

    for r in range(a.runs):
        m_s = bracketed("eval_scalpel", full, lambda: scalpel_eval(model, data / "code", a.tokens, a.context, a.threads))
        te = bracketed("eval_torch", full, lambda: (lambda t: (max(v["tokens_per_s"] for v in t.values()), t))(
            torch_run("eval", a, model, a.batch_list)[0]))
        best_eval = max(te, key=lambda k: te[k]["tokens_per_s"])
        bracketed("collect_scalpel", body, lambda: (scalpel_collect(model, data / "code", a.tokens, a.context, a.threads), None))
        tc = bracketed("collect_torch", body, lambda: (lambda t: (max(v["tokens_per_s"] for v in t.values()), t))(
            torch_run("collect", a, model, a.batch_list)[0]))
        history, rss = scalpel_prune(model, data, a.step_tokens, a.step_tokens, a.context, a.threads)
        rows["step_scalpel"].append(history["steps"][1]["seconds"])
        rows["rss_scalpel"].append(rss)
        step_batch = int(best_eval.removeprefix("batch"))
        ts, rss_t = torch_run("step", a, model, [step_batch], collect=a.step_tokens, evaluate=a.step_tokens)
        rows["step_torch"].append(ts["seconds"])
        rows["rss_torch"].append(rss_t)
        detail.append({"run": r, "torch_eval": te, "torch_collect": tc, "torch_step": ts,
                       "scalpel_step": history["steps"][1], "scalpel_eval_metrics": m_s,
                       "shares": {k: v[-1] for k, v in shares.items()}})
        print(f"run {r + 1}/{a.runs}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in rows.items())
              + "; of the limit: " + ", ".join(f"{k} {100 * v[-1]:.1f}%" for k, v in shares.items()), flush=True)
    med = {k: statistics.median(v) for k, v in rows.items()}
    share = {k: statistics.median(v) for k, v in shares.items()}
    limit_eval = med["sgemm_gflops"] * 1e9 / full
    limit_collect = med["sgemm_gflops"] * 1e9 / body
    weights = (model / "model.safetensors").stat().st_size / 2**20
    print(f"\nmodel: OPT-{a.shape} shape, {full / 1e6:.0f} MFLOP/token with the LM head, {body / 1e6:.0f} without, "
          f"context {a.context}; {a.threads} threads; median of {a.runs} runs")
    print(f"{'sgemm' if dtype == 'f32' else dtype + ' matmul'} {med['sgemm_gflops']:.1f} GFLOP/s (median of {len(rows['sgemm_gflops'])} measurements) -> limits: "
          f"evaluation {limit_eval:.0f} tokens/s, collection {limit_collect:.0f} tokens/s")
    print(f"{'':<22}{'Scalpel':>12}{'PyTorch':>12}{'ratio':>8}")
    print(f"{'evaluation tokens/s':<22}{med['eval_scalpel']:>12.0f}{med['eval_torch']:>12.0f}{med['eval_scalpel'] / med['eval_torch']:>7.2f}x")
    print(f"{'  of the limit':<22}{100 * share['eval_scalpel']:>11.1f}%{100 * share['eval_torch']:>11.1f}%")
    print(f"{'collection tokens/s':<22}{med['collect_scalpel']:>12.0f}{med['collect_torch']:>12.0f}{med['collect_scalpel'] / med['collect_torch']:>7.2f}x")
    print(f"{'  of the limit':<22}{100 * share['collect_scalpel']:>11.1f}%{100 * share['collect_torch']:>11.1f}%")
    print("(each share: that run's throughput against the sgemm rate measured just before and after it; median of runs)")
    print(f"{'pruning step seconds':<22}{med['step_scalpel']:>12.1f}{med['step_torch']:>12.1f}{med['step_torch'] / med['step_scalpel']:>7.2f}x")
    print(f"{'peak RSS MiB (step)':<22}{med['rss_scalpel']:>12.0f}{med['rss_torch']:>12.0f}")
    print(f"Float32 weights: {weights:.0f} MiB")
    (BENCH / ("bench.json" if dtype == "f32" else f"bench-{dtype}.json")).write_text(json.dumps({"args": vars(a), "dtype": dtype, "runs": rows, "median": med, "shares": shares,
        "median_shares": share, "limits": {
        "evaluation": limit_eval, "collection": limit_collect}, "flops_per_token": {"with_head": full, "without_head": body},
        "weights_mib": weights, "detail": detail}, indent=1))


def main_steps(a):
    """Per-step phase timings of one run pruning 10% of FF neurons per step, compaction on and off."""
    model = ensure_model(a.shape)
    data = ensure_data()
    out = {}
    for label, extra in (("compacted", ()), ("full-size", ("--no-compact",))):
        history, rss = scalpel_prune(model, data, a.step_tokens, a.step_tokens, a.context, a.threads,
                                     steps=a.steps, ff_frac=0.1, extra=extra)
        out[label] = [{"step": s["step"], "ff_pruned": s["pruned"]["ff"], **s["phase_seconds"], "seconds": s["seconds"]}
                      for s in history["steps"][1:]]
        out[label + "_rss"] = rss
    total = json.loads((BENCH / "run" / "history.json").read_text())["totals"]["ff"]
    print(f"OPT-{a.shape} shape, {a.step_tokens} collected + {a.step_tokens} evaluated predictions per data set per step, "
          f"10% of FF neurons per step, {a.threads} threads")
    print(f"{'step':>4} {'FF pruned':>10} | {'compacted: collect':>18} {'evaluate':>9} {'step':>7} | {'full-size: collect':>18} {'evaluate':>9} {'step':>7}")
    for c, f in zip(out["compacted"], out["full-size"]):
        print(f"{c['step']:>4} {100 * c['ff_pruned'] / total:>9.0f}% | {c['collect']:>18.2f} {c['evaluate']:>9.2f} {c['seconds']:>7.2f} | "
              f"{f['collect']:>18.2f} {f['evaluate']:>9.2f} {f['seconds']:>7.2f}")
    (BENCH / "bench-steps.json").write_text(json.dumps(out, indent=1))


def main_scaling(a):
    """Scalpel evaluation time per token against context length and model size."""
    data = ensure_data()
    out = {"context": [], "size": []}
    model = ensure_model("125m")
    for ctx in (128, 256, 512, 1024, 2048):
        tps, _ = scalpel_eval(model, data / "code", a.tokens, ctx, a.threads)
        out["context"].append({"shape": "125m", "context": ctx, "tokens_per_s": tps, "ms_per_token": 1000 / tps})
        print(f"125m context {ctx}: {1000 / tps:.2f} ms/token", flush=True)
    gflops = sgemm_rate(a.threads)
    for shape, tokens in (("125m", a.tokens), ("350m", max(1024, a.tokens // 4)), ("1.3b", max(512, a.tokens // 8))):
        model = ensure_model(shape)
        cfg = json.loads((model / "config.json").read_text())
        flops = matmul_flops_per_token(cfg, 512)
        tps, _ = scalpel_eval(model, data / "code", tokens, 512, a.threads)
        out["size"].append({"shape": shape, "tokens": tokens, "tokens_per_s": tps, "ms_per_token": 1000 / tps,
                            "mflop_per_token": flops / 1e6, "of_limit": tps * flops / (gflops * 1e9)})
        print(f"{shape} context 512: {1000 / tps:.2f} ms/token, {100 * tps * flops / (gflops * 1e9):.0f}% of the sgemm limit", flush=True)
    out["sgemm_gflops"] = gflops
    (BENCH / "bench-scaling.json").write_text(json.dumps(out, indent=1))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=4096, help="predictions for evaluation and collection")
    ap.add_argument("--step-tokens", type=int, default=2048, help="collected and evaluated predictions per data set in a pruning step")
    ap.add_argument("--context", type=int, default=512)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--shape", default="125m")
    ap.add_argument("--batches", default="1,4")
    ap.add_argument("--only", choices=["compare", "steps", "scaling"], default="compare")
    ap.add_argument("--dtypes", default="f32", help="comma-separated: f32, bf16 (PyTorch then loads the model in BF16)")
    ap.add_argument("--dtype", default="f32", help=argparse.SUPPRESS)  # worker mode
    # worker mode (internal)
    ap.add_argument("--torch-worker", choices=["eval", "collect", "step"])
    ap.add_argument("--model")
    ap.add_argument("--data")
    ap.add_argument("--collect", type=int)
    ap.add_argument("--evaluate", type=int)
    a = ap.parse_args()
    a.batch_list = [int(b) for b in a.batches.split(",")]
    if a.torch_worker:
        a.batches = a.batch_list
        return torch_worker(a)
    if not EXE.exists():
        sys.exit("build first: swift build -c release")
    {"compare": main_compare, "steps": main_steps, "scaling": main_scaling}[a.only](a)


if __name__ == "__main__":
    main()
