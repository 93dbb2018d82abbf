#!/usr/bin/env python3
"""`scalpel generate` against transformers' `generate`, side by side in one run: SmolLM2-135M
(the GGUF, dequantized to Float32 by both), greedy, one prompt, the same thread count. Reports
decoding tokens/s and how the cost of one new token grows with the tokens before it (mean
milliseconds per token in the first and the last 100 positions of a long generation), with the
attention's share of Scalpel's time from its profile.

    swift build -c release && python3 Benchmarks/generate.py [--new-tokens 1000] [--threads 2] [--dtype f32|bf16]

Needs torch, transformers and gguf (Tools/setup/setup.sh --reference; pip install gguf).
"""
import argparse, json, os, subprocess, sys, tempfile, time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXE = ROOT / ".build/release/scalpel"
GGUF = ROOT / ".cache/models/SmolLM2-135M-Instruct.Q4_1.gguf"
PROMPT = "def fibonacci(n):"


def scalpel(args):
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "g.json"
        env = dict(os.environ, SCALPEL_PROFILE="1")
        r = subprocess.run(
            [str(EXE), "generate", "--model", str(GGUF), "--prompt", PROMPT, "--max-new-tokens", str(args.new_tokens),
             "--min-new-tokens", str(args.new_tokens),
             "--threads", str(args.threads), "--dtype", args.dtype, "--json", str(out)],
            capture_output=True, text=True, env=env, check=True)
        g = json.loads(out.read_text())["generations"][0]
    profile = {}
    for line in r.stdout.splitlines() + r.stderr.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[2].endswith("%"):
            profile[parts[0]] = float(parts[1])
    return g["ids"], [s * 1000 for s in g["token_seconds"]], profile


def transformers_generate(args):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LogitsProcessor, LogitsProcessorList
    torch.set_num_threads(args.threads)
    dtype = torch.bfloat16 if args.dtype == "bf16" else torch.float32
    tok = AutoTokenizer.from_pretrained(GGUF.parent, gguf_file=GGUF.name)
    model = AutoModelForCausalLM.from_pretrained(GGUF.parent, gguf_file=GGUF.name, dtype=dtype).eval()
    ids = torch.tensor([tok(PROMPT).input_ids])
    stamps = []

    class Clock(LogitsProcessor):  # called once per new token, after its forward pass
        def __call__(self, input_ids, scores):
            stamps.append(time.perf_counter())
            return scores

    with torch.inference_mode():
        out = model.generate(
            ids, attention_mask=torch.ones_like(ids), do_sample=False, max_new_tokens=args.new_tokens,
            min_new_tokens=args.new_tokens, logits_processor=LogitsProcessorList([Clock()]),
            pad_token_id=model.generation_config.eos_token_id)
    new = out[0, ids.shape[1]:].tolist()
    return new, [(b - a) * 1000 for a, b in zip(stamps, stamps[1:])]


def summary(name, ms):
    first, last = ms[:100], ms[-100:]
    mean = lambda xs: sum(xs) / len(xs)
    rate = 1000 * len(ms) / sum(ms)
    print(f"{name:13s} {rate:7.1f} tokens/s   first 100: {mean(first):6.2f} ms/token   last 100: {mean(last):6.2f} ms/token"
          f"   (×{mean(last) / mean(first):.2f})")
    return {"tokens_per_second": rate, "first_100_ms": mean(first), "last_100_ms": mean(last)}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--new-tokens", type=int, default=1000)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--dtype", default="f32", choices=["f32", "bf16"])
    args = p.parse_args()
    ours, ours_ms, profile = scalpel(args)
    theirs, theirs_ms = transformers_generate(args)
    print(f"SmolLM2-135M, {args.dtype}, {args.threads} threads, prompt {PROMPT!r}, {args.new_tokens} new tokens (greedy)")
    result = {"scalpel": summary("scalpel", ours_ms), "transformers": summary("transformers", theirs_ms)}
    total = sum(profile.values())
    if total:
        print(f"scalpel profile: attention {100 * profile.get('attention', 0) / total:.1f}% of the forward passes' time")
    n = min(len(ours), len(theirs))
    same = next((i for i in range(n) if ours[i] != theirs[i]), n)
    print(f"greedy ids agree on the first {same} of {n} tokens (both with min_new_tokens = max_new_tokens)")
    result["agree"] = same
    print(json.dumps(result))


if __name__ == "__main__":
    main()
