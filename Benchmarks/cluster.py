#!/usr/bin/env python3
"""scalpel prune on one machine against scalpel-ray prune on a local Ray cluster (1 and 2
workers), one pruning step of the benchmark's OPT-125m-shaped model, in one run. Prints the
seconds of step 1 (collect forget + retain, select, prune, evaluate forget + retain), steps per
hour, and whether the masks are identical.

    swift build -c release && pip install ./python && python3 Benchmarks/cluster.py [--shard-tokens 4096]
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".build/release/scalpel"
MODEL = ROOT / ".bench/opt-125m"
DATA = ROOT / ".bench/data"


def args(out, shard):
    return ["--model", str(MODEL), "--forget", str(DATA / "forget"), "--retain", str(DATA / "retain"),
            "--collect-tokens", "8192", "--eval-tokens", "4096", "--context", "512", "--ff-frac", "0.02", "--steps", "1",
            "--completions", "0", "--shard-tokens", str(shard), "--out", str(out)]


def step_seconds(out):
    h = json.loads((out / "history.json").read_text())
    return h["steps"][1]["seconds"], (out / "masks.safetensors").read_bytes()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--shard-tokens", type=int, default=4096)
    a = p.parse_args()
    if not MODEL.exists():
        subprocess.run([sys.executable, str(ROOT / "Benchmarks/make_model.py"), str(MODEL), "--shape", "125m"], check=True)
    tmp = Path(tempfile.mkdtemp(prefix="scalpel-cluster-bench-"))
    rows = []
    subprocess.run([str(EXE), "prune", *args(tmp / "local", a.shard_tokens), "--threads", "2"], check=True, capture_output=True)
    local, masks = step_seconds(tmp / "local")
    rows.append(("scalpel prune --threads 2", local, True))
    for workers, threads in ((1, 2), (2, 1)):
        out = tmp / f"ray{workers}"
        subprocess.run([sys.executable, "-m", "scalpel_ray.cli", "prune", "--workers", str(workers), "--threads-per-task", str(threads),
                        "--scalpel", str(EXE), *args(out, a.shard_tokens)], check=True, capture_output=True)
        s, m = step_seconds(out)
        rows.append((f"scalpel-ray --workers {workers} --threads-per-task {threads}", s, m == masks))
    print(f"one step, OPT-125m-shaped, 8192 + 8192 predictions collected, 4096 + 4096 evaluated, context 512, shards of {a.shard_tokens} tokens")
    print(f"{'':44s} {'step s':>8s} {'steps/hour':>11s}  masks identical")
    for name, s, same in rows:
        print(f"{name:44s} {s:8.1f} {3600 / s:11.0f}  {same}")


if __name__ == "__main__":
    main()
