#!/usr/bin/env python3
"""A bad-input and fault sweep of the scalpel binary: a few hundred corrupt checkpoints, configs,
tokenizers, GGUF headers, data files and arguments, and faults (kills, concurrent runs, a full disk,
a tampered statistics cache, changed inputs, outputs that are inputs). Every case is classified:

  ok        the command succeeded and the case allows success, or it failed with one line
            "error: ..." on stderr and exit status 1
  crash     the process ended by a signal (a Swift trap is SIGILL/SIGTRAP, a bad read SIGSEGV)
  hang      it ran past the time limit
  unclean   it failed, but not with exactly one "error:" line (a Foundation dump, a stack trace, ...)
  silent    it succeeded where the only right answer is an error (a tokenizer with ids beyond the
            model, a NaN weight, an accepted corrupt header that changed the result, a changed input
            on --resume, an output that replaces an input, ...), or a resumed run differs
  modified  an input file changed

    python3 Tools/checks/sweep.py --scalpel .build/release/scalpel [--seed 1] [--json out.json]

Needs the test fixtures (Tests/Fixtures) and, for the GGUF cases, the SmolLM2 GGUF that
Tools/setup/fetch_smollm2.sh downloads (skipped when absent). Prints one line per failing case and a
summary table; exits 1 when any case is not ok.
"""
import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIX = os.path.join(ROOT, "Tests", "Fixtures")
MODEL = os.path.join(FIX, "models", "opt-prenorm")
FORGET = os.path.join(FIX, "data", "code", "docs.jsonl")
RETAIN = os.path.join(FIX, "data", "prose")
GGUF = os.path.join(ROOT, ".cache", "models", "SmolLM2-135M-Instruct.Q4_1.gguf")

results = []


def sha(path):
    if os.path.isdir(path):
        h = hashlib.sha256()
        for dirpath, _, files in sorted(os.walk(path)):
            for f in sorted(files):
                p = os.path.join(dirpath, f)
                if os.path.isfile(p):
                    h.update(p.encode()); h.update(open(p, "rb").read())
        return h.hexdigest()
    return hashlib.sha256(open(path, "rb").read()).hexdigest() if os.path.isfile(path) else None


def run(exe, args, timeout=60):
    start = time.time()
    try:
        p = subprocess.run([exe] + args, capture_output=True, timeout=timeout, text=True, errors="replace")
        return p.returncode, p.stdout, p.stderr, time.time() - start
    except subprocess.TimeoutExpired as e:
        return None, "", "", time.time() - start


def classify(name, category, rc, out, err, must_fail=False, inputs=(), before=None, expect_success=False, extra_ok=True):
    if rc is None:
        verdict = "hang"
    elif rc < 0:
        verdict = "crash"
    elif rc != 0:
        lines = [l for l in err.splitlines() if l.strip()]
        clean = rc in (1, 64) and len(lines) == 1 and lines[0].startswith("error: ") and "Error Domain" not in err \
            and "EncodingError" not in err and "Fatal error" not in err
        verdict = "ok" if clean else "unclean"
        if expect_success:
            verdict = "unclean" if verdict == "ok" else verdict
            if verdict == "unclean":
                verdict = "silent"  # a valid input refused is a wrong answer too
    else:
        verdict = "silent" if must_fail or not extra_ok else "ok"
    if before is not None:
        after = [sha(p) for p in inputs]
        if after != before:
            verdict = "modified"
    results.append({"name": name, "category": category, "verdict": verdict, "rc": rc,
                    "stderr": err.strip().splitlines()[-3:] if err else []})
    if verdict != "ok":
        print(f"[{verdict}] {category}: {name}: rc={rc} {err.strip()[:300]!r}", flush=True)


def copy_model(tmp, name="opt-prenorm"):
    d = tempfile.mkdtemp(dir=tmp)
    dst = os.path.join(d, name)
    shutil.copytree(os.path.join(FIX, "models", name), dst)
    return dst


def eval_args(model, data=FORGET, extra=()):
    return ["eval", "--model", model, "--data", data, "--tokens", "20", "--context", "16", "--threads", "1"] + list(extra)


def metrics(out):
    return [l for l in out.splitlines() if "docs" in l or "%" in l]


# ---------------------------------------------------------------- safetensors

def read_st(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    return json.loads(b[8:8 + n]), b[8 + n:]


def write_st(path, header, data, raw_header=None):
    h = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    open(path, "wb").write(struct.pack("<Q", len(h)) + h + data)


def sweep_safetensors(exe, tmp, rng):
    base_rc, base_out, _, _ = run(exe, eval_args(MODEL))
    base = metrics(base_out)
    header, data = read_st(os.path.join(MODEL, "model.safetensors"))
    names = sorted(k for k in header if k != "__metadata__")
    extremes = [-1, 0, 1, 2**31, 2**32, 2**53, 2**62, 2**63 - 1, 2**64, 10**30, 0.5, "7", None, True, []]
    cases = []
    for _ in range(40):  # one integer of one tensor's shape or offsets set to an extreme
        n = rng.choice(names); field = rng.choice(["shape", "data_offsets"]); v = rng.choice(extremes)
        def f(h, n=n, field=field, v=v):
            lst = list(h[n][field]) or [0]
            lst[rng.randrange(len(lst))] = v
            h[n][field] = lst
        cases.append((f"{n}.{field} ← {v!r}", f, None))
    for d in ["F16", "BF16", "F64", "I8", "U8", "BOOL", "I64", "F8_E4M3", "Q4"]:
        n = rng.choice(names)
        cases.append((f"{n}.dtype ← {d}", lambda h, n=n, d=d: h[n].__setitem__("dtype", d), None))
    a, b = names[0], names[1]
    cases.append(("overlapping offsets", lambda h: h[b].__setitem__("data_offsets", [h[a]["data_offsets"][0], h[a]["data_offsets"][0] + h[b]["data_offsets"][1] - h[b]["data_offsets"][0]]), None))
    cases.append(("gap between tensors", lambda h: [h[k].__setitem__("data_offsets", [h[k]["data_offsets"][0] + 8, h[k]["data_offsets"][1] + 8]) for k in names[-1:]], None))
    cases.append(("metadata not strings", lambda h: h.__setitem__("__metadata__", {"a": 1}), None))
    cases.append(("header is a list", None, b"[1,2,3]"))
    cases.append(("header not JSON", None, b"{\"a\":"))
    dup = json.dumps({a: header[a]}, separators=(",", ":"))[1:-1]
    cases.append(("duplicate key", None, ("{" + dup + "," + json.dumps(header, separators=(",", ":"))[1:]).encode()))
    for label, edit, raw in cases:
        d = copy_model(tmp)
        path = os.path.join(d, "model.safetensors")
        h = json.loads(json.dumps(header))
        if edit:
            edit(h)
        write_st(path, h, data, raw)
        rc, out, err, _ = run(exe, eval_args(d))
        # accepted only if it cannot change the answer
        classify(label, "safetensors header", rc, out, err, extra_ok=(metrics(out) == base))
    original = open(os.path.join(MODEL, "model.safetensors"), "rb").read()
    for _ in range(20):  # truncations
        cut = rng.randrange(0, len(original))
        d = copy_model(tmp)
        open(os.path.join(d, "model.safetensors"), "wb").write(original[:cut])
        rc, out, err, _ = run(exe, eval_args(d))
        classify(f"truncated to {cut} bytes", "safetensors truncation", rc, out, err, must_fail=True)
    hl = struct.unpack("<Q", original[:8])[0]
    for _ in range(40):  # random byte flips inside the 8-byte length or the JSON header
        pos = rng.randrange(0, 8 + hl)
        d = copy_model(tmp)
        b2 = bytearray(original); b2[pos] ^= 1 << rng.randrange(8)
        open(os.path.join(d, "model.safetensors"), "wb").write(bytes(b2))
        rc, out, err, _ = run(exe, eval_args(d))
        classify(f"bit flip at byte {pos}", "safetensors bit flip", rc, out, err, extra_ok=(metrics(out) == base))


# ---------------------------------------------------------------- config.json

def sweep_config(exe, tmp, rng):
    cfg = json.load(open(os.path.join(MODEL, "config.json")))
    fields = ["vocab_size", "hidden_size", "num_hidden_layers", "ffn_dim", "num_attention_heads", "max_position_embeddings",
              "word_embed_proj_dim", "do_layer_norm_before", "activation_function", "model_type", "layer_norm_elementwise_affine"]
    values = [-1, 0, 2**31, 2**62, 2**63 - 1, 1e30, -1e30, 0.5, "x", None, True, [], {}]
    for f in fields:
        for v in values:
            d = copy_model(tmp)
            c = dict(cfg); c[f] = v
            json.dump(c, open(os.path.join(d, "config.json"), "w"))
            rc, out, err, _ = run(exe, eval_args(d))
            same = v == cfg.get(f) or (f == "word_embed_proj_dim" and v is None)
            classify(f"{f} = {v!r}", "config.json", rc, out, err, extra_ok=True if same else rc != 0 or f in ("layer_norm_elementwise_affine",))
    for text in ["", "[]", "null", "{", "{\"model_type\": \"opt\"", "\x00\x01"]:
        d = copy_model(tmp)
        open(os.path.join(d, "config.json"), "w").write(text)
        rc, out, err, _ = run(exe, eval_args(d))
        classify(f"config.json is {text!r}", "config.json", rc, out, err, must_fail=True)


# ---------------------------------------------------------------- tokenizer.json

def sweep_tokenizer(exe, tmp, rng):
    tok = json.load(open(os.path.join(MODEL, "tokenizer.json")))
    vocab_size = json.load(open(os.path.join(MODEL, "config.json")))["vocab_size"]

    def case(label, edit, data=FORGET, must_fail=False, timeout=60):
        d = copy_model(tmp)
        t = json.loads(json.dumps(tok))
        edit(t)
        json.dump(t, open(os.path.join(d, "tokenizer.json"), "w"))
        rc, out, err, secs = run(exe, eval_args(d, data), timeout=timeout)
        classify(label, "tokenizer.json", rc, out, err, must_fail=must_fail)

    def shift_vocab(t, delta):
        t["model"]["vocab"] = {k: v + delta for k, v in t["model"]["vocab"].items()}
    case("vocab ids shifted beyond the model", lambda t: shift_vocab(t, vocab_size), must_fail=True)
    case("negative vocab ids", lambda t: shift_vocab(t, -vocab_size))
    case("vocab id 2^31", lambda t: t["model"]["vocab"].__setitem__(next(iter(t["model"]["vocab"])), 2**31))
    case("vocab id 2^63", lambda t: t["model"]["vocab"].__setitem__(next(iter(t["model"]["vocab"])), 2**63))
    case("vocab ids as strings", lambda t: t["model"].__setitem__("vocab", {k: str(v) for k, v in t["model"]["vocab"].items()}))
    for v in [vocab_size, vocab_size + 10**6, -5, 2**40]:
        case(f"added token id {v} used by the data", lambda t, v=v: t.setdefault("added_tokens", []).append(
            {"id": v, "content": "def", "single_word": False, "lstrip": False, "rstrip": False, "normalized": False, "special": False}),
            must_fail=v >= vocab_size or v < 0)
    case("merges not pairs", lambda t: t["model"].__setitem__("merges", ["a b c"] * 5))
    case("merges of unknown tokens", lambda t: t["model"].__setitem__("merges", ["zzqq yyxx"]))
    case("model is a list", lambda t: t.__setitem__("model", []))
    case("unknown model type", lambda t: t["model"].__setitem__("type", "Unigram"))
    for pattern in ["(a+)+$", "(x+x+)+y", "(.*a){12}", "((a|aa)+)+b", "(\\w+\\s?)+$"]:
        text = os.path.join(tempfile.mkdtemp(dir=tmp), "a.txt")
        open(text, "w").write("a" * 5000 + " x" * 10 + "!" * 3)
        case(f"Split regex {pattern}", lambda t, p=pattern: t.__setitem__("pre_tokenizer", {"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False}),
             data=text, timeout=60)
    for pattern in ["(", "[", "(?<=a+)b", "\\", "a{99999999}"]:
        case(f"Split regex {pattern!r} does not compile", lambda t, p=pattern: t.__setitem__("pre_tokenizer", {"type": "Split", "pattern": {"Regex": p}, "behavior": "Isolated", "invert": False}))
    case("unknown pre-tokenizer", lambda t: t.__setitem__("pre_tokenizer", {"type": "Magic"}))
    case("Strip decoder with negative counts", lambda t: t.__setitem__("decoder", {"type": "Strip", "content": " ", "start": -5, "stop": -9}))
    case("post-processor special token ids beyond the model", lambda t: t.__setitem__("post_processor", {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}], "pair": [], "special_tokens": {"<x>": {"id": "<x>", "ids": [10**7], "tokens": ["<x>"]}}}), must_fail=True)
    for text in ["", "[]", "{\"model\": 1}", "{"]:
        d = copy_model(tmp)
        open(os.path.join(d, "tokenizer.json"), "w").write(text)
        rc, out, err, _ = run(exe, eval_args(d))
        classify(f"tokenizer.json is {text!r}", "tokenizer.json", rc, out, err, must_fail=True)


# ---------------------------------------------------------------- GGUF

def gguf_fields(b):
    """Offsets of the header's integer fields: [(label, offset, size)], and the tensor table start."""
    off = 24
    fields = [("tensor_count", 8, 8), ("kv_count", 16, 8)]
    kv = struct.unpack("<Q", b[16:24])[0]
    sizes = {0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8}
    values = {}

    def skip_value(t, off):
        if t in sizes:
            return off + sizes[t]
        if t == 8:
            n = struct.unpack("<Q", b[off:off + 8])[0]
            return off + 8 + n
        if t == 9:
            et = struct.unpack("<I", b[off:off + 4])[0]; n = struct.unpack("<Q", b[off + 4:off + 12])[0]
            fields.append(("array length", off + 4, 8))
            off += 12
            for _ in range(n):
                off = skip_value(et, off)
            return off
        raise ValueError(t)
    for _ in range(kv):
        n = struct.unpack("<Q", b[off:off + 8])[0]
        key = b[off + 8:off + 8 + n].decode()
        fields.append((f"key length of {key}", off, 8))
        off += 8 + n
        t = struct.unpack("<I", b[off:off + 4])[0]
        fields.append((f"type of {key}", off, 4))
        off += 4
        if t in (4, 5):
            values[key] = (off, 4)
        off = skip_value(t, off)
    tensors = struct.unpack("<Q", b[8:16])[0]
    for _ in range(tensors):
        n = struct.unpack("<Q", b[off:off + 8])[0]
        name = b[off + 8:off + 8 + n].decode()
        off += 8 + n
        dims = struct.unpack("<I", b[off:off + 4])[0]
        fields.append((f"n_dims of {name}", off, 4))
        off += 4
        for i in range(dims):
            fields.append((f"dim {i} of {name}", off, 8)); off += 8
        fields.append((f"type of tensor {name}", off, 4)); off += 4
        fields.append((f"offset of {name}", off, 8)); off += 8
    return fields, values


def sweep_gguf(exe, tmp, rng):
    if not os.path.exists(GGUF):
        print("(GGUF cases skipped: no", GGUF, ")")
        return
    original = open(GGUF, "rb").read()
    fields, values = gguf_fields(original)
    d = tempfile.mkdtemp(dir=tmp)
    path = os.path.join(d, "m.gguf")
    chosen = rng.sample(fields, min(45, len(fields)))
    for key in ["llama.attention.head_count", "llama.block_count", "llama.embedding_length", "llama.attention.head_count_kv",
                "llama.feed_forward_length", "llama.context_length", "llama.vocab_size"]:
        if key in values:
            chosen.append((key, values[key][0], values[key][1]))
    extremes8 = [0, 1, 2**31, 2**32 + 1, 2**62, 2**63 - 1, 2**63, 2**64 - 1]
    extremes4 = [0, 1, 5, 9, 13, 31, 2**31, 2**32 - 1]
    for label, off, size in chosen:
        v = rng.choice(extremes8 if size == 8 else extremes4)
        b2 = bytearray(original)
        b2[off:off + size] = v.to_bytes(size, "little")
        open(path, "wb").write(bytes(b2))
        rc, out, err, _ = run(exe, ["eval", "--model", path, "--data", FORGET, "--tokens", "20", "--context", "16"], timeout=120)
        classify(f"{label} ← {v}", "gguf header", rc, out, err)
    for cut in sorted(rng.sample(range(24, len(original)), 8)):
        open(path, "wb").write(original[:cut])
        rc, out, err, _ = run(exe, ["eval", "--model", path, "--data", FORGET, "--tokens", "20", "--context", "16"], timeout=120)
        classify(f"truncated to {cut} bytes", "gguf truncation", rc, out, err, must_fail=True)


# ---------------------------------------------------------------- data

def sweep_data(exe, tmp, rng):
    d = tempfile.mkdtemp(dir=tmp)
    lf = open(FORGET).read()
    crlf = os.path.join(d, "crlf.jsonl"); open(crlf, "w", newline="").write(lf.replace("\n", "\r\n"))
    rc_a, out_a, _, _ = run(exe, eval_args(MODEL, FORGET))
    rc, out, err, _ = run(exe, eval_args(MODEL, crlf))
    classify("CRLF .jsonl equals LF", "data", rc, out, err, extra_ok=(metrics(out) == [l.replace("docs", "crlf") for l in metrics(out_a)]),
             expect_success=True)
    cases = {
        "empty.txt": b"", "binary.txt": bytes(rng.randrange(256) for _ in range(4000)), "invalid-utf8.txt": b"\xff\xfe\xc3(" * 500,
        "bad.jsonl": b"{\"text\": 1}\n", "nested.jsonl": b"[" * 5000 + b"]" * 5000 + b"\n", "nul.jsonl": b"\x00\n",
        "notext.jsonl": b"{\"body\": \"x\"}\n", "bigint.jsonl": b"{\"text\": \"a\", \"n\": 1" + b"0" * 400 + b"}\n",
        "crlf-only.jsonl": b"\r\n\r\n", "spaces.jsonl": b"   \n\t\n",
    }
    for name, content in cases.items():
        p = os.path.join(d, name); open(p, "wb").write(content)
        rc, out, err, _ = run(exe, eval_args(MODEL, p))
        classify(name, "data", rc, out, err)
    # a 50 MB single line: only what 200 predictions need may be tokenized
    big = os.path.join(d, "big.txt")
    with open(big, "w") as f:
        words = ["alpha", "beta", "gamma", "delta", "def", "return", "the", "of"]
        chunk = " ".join(rng.choice(words) for _ in range(200_000))
        while f.tell() < 50_000_000:
            f.write(chunk + " ")
    before = resource_children()
    rc, out, err, secs = run(exe, ["eval", "--model", MODEL, "--data", big, "--tokens", "200", "--context", "16"], timeout=120)
    rss = resource_children() - before
    classify(f"50 MB single line, 200 predictions ({secs:.1f} s)", "data", rc, out, err, expect_success=True, extra_ok=secs < 30)
    fifo = os.path.join(d, "fifo.txt"); os.mkfifo(fifo)
    rc, out, err, _ = run(exe, eval_args(MODEL, fifo), timeout=30)
    classify("FIFO as data", "data", rc, out, err, must_fail=True)
    folder = os.path.join(d, "folder"); os.mkdir(folder); os.mkfifo(os.path.join(folder, "pipe.txt"))
    open(os.path.join(folder, "a.txt"), "w").write(open(os.path.join(RETAIN, "a.txt")).read())
    rc, out, err, _ = run(exe, eval_args(MODEL, folder), timeout=30)
    classify("folder holding a FIFO", "data", rc, out, err)
    loop = os.path.join(d, "loop.txt"); os.symlink(loop, loop)
    rc, out, err, _ = run(exe, eval_args(MODEL, loop), timeout=30)
    classify("symlink loop", "data", rc, out, err, must_fail=True)
    m = copy_model(tmp)
    os.remove(os.path.join(m, "model.safetensors")); os.mkfifo(os.path.join(m, "model.safetensors"))
    rc, out, err, _ = run(exe, eval_args(m), timeout=30)
    classify("FIFO as model.safetensors", "data", rc, out, err, must_fail=True)


def resource_children():
    import resource
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


# ---------------------------------------------------------------- arguments

def prune_args(out, model=MODEL, forget=FORGET, extra=()):
    return ["prune", "--model", model, "--forget", forget, "--retain", RETAIN, "--collect-tokens", "100", "--eval-tokens", "80",
            "--context", "32", "--steps", "6", "--ff-frac", "0.03", "--attn-frac", "0.02", "--threads", "1", "--out", out] + list(extra)


def sweep_arguments(exe, tmp, rng):
    options = ["--ff-frac", "--attn-frac", "--ff-eps", "--attn-eps", "--steps", "--collect-tokens", "--eval-tokens", "--context",
               "--seed", "--stop-forget-drop", "--max-retain-drop", "--batch-tokens", "--threads"]
    values = ["-1", "0", "-0", "9223372036854775807", "-9223372036854775808", "nan", "inf", "-inf", "1e308", "abc", ""]
    for opt in options:
        for v in rng.sample(values, 5):
            out = os.path.join(tempfile.mkdtemp(dir=tmp), "run")
            rc, o, err, _ = run(exe, prune_args(out, extra=[opt, v]), timeout=120)
            classify(f"{opt} {v!r}", "arguments", rc, o, err)
    for opt, v in [("--skip", "9223372036854775807"), ("--skip", "-3"), ("--tokens", "0"), ("--tokens", "-1"), ("--context", "1"),
                   ("--batch-tokens", "0"), ("--context", "100000")]:
        rc, o, err, _ = run(exe, ["eval", "--model", MODEL, "--data", FORGET, opt, v] + (["--tokens", "5"] if opt == "--skip" else []))
        classify(f"eval {opt} {v}", "arguments", rc, o, err, must_fail=True)


# ---------------------------------------------------------------- faults

def same_run(a, b):
    return all(sha(os.path.join(a, f)) == sha(os.path.join(b, f)) for f in ["masks.safetensors", "model/model.safetensors"])


def sweep_faults(exe, tmp, rng):
    whole = os.path.join(tempfile.mkdtemp(dir=tmp), "whole")
    run(exe, prune_args(whole))
    t0 = time.time(); run(exe, prune_args(os.path.join(tempfile.mkdtemp(dir=tmp), "t"))); duration = time.time() - t0
    for k in range(20):
        out = os.path.join(tempfile.mkdtemp(dir=tmp), "cut")
        p = subprocess.Popen([exe] + prune_args(out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0, duration * 1.1))
        p.send_signal(signal.SIGKILL); p.wait()
        if os.path.exists(out):
            rc, o, err, _ = run(exe, ["prune", "--resume", out])
        else:
            rc, o, err, _ = run(exe, prune_args(out))
        leftovers = [f for f in os.listdir(out) if ".tmp-" in f or ".old-" in f] if os.path.isdir(out) else []
        leftovers += [f for f in os.listdir(os.path.dirname(out)) if ".tmp-" in f]
        classify(f"kill -9 #{k}, then resume", "faults", rc, o, err, expect_success=True,
                 extra_ok=rc == 0 and same_run(whole, out) and not leftovers)
    for k in range(3):
        out = os.path.join(tempfile.mkdtemp(dir=tmp), "run")
        ps = [subprocess.Popen([exe] + prune_args(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
        res = [(p.wait(), p.stderr.read()) for p in ps]
        ok = sum(1 for rc, _ in res if rc == 0) == 1
        for rc, err in res:
            classify(f"concurrent run #{k}", "faults", rc, "", err, extra_ok=ok)
        classify(f"concurrent runs #{k}: exactly one succeeds and its folder is whole", "faults", 0, "", "",
                 extra_ok=ok and same_run(whole, out))
    # changed inputs on resume
    m = copy_model(tmp)
    data = os.path.join(tempfile.mkdtemp(dir=tmp), "docs.jsonl"); shutil.copy(FORGET, data)
    out = os.path.join(tempfile.mkdtemp(dir=tmp), "run")
    run(exe, prune_args(out, model=m, forget=data, extra=["--steps", "2"]))
    with open(data, "a") as f:
        f.write('{"text": "more"}\n')
    rc, o, err, _ = run(exe, ["prune", "--resume", out])
    classify("resume after the data changed", "faults", rc, o, err, must_fail=True)
    shutil.copy(FORGET, data)
    with open(os.path.join(m, "config.json"), "a") as f:
        f.write(" ")
    rc, o, err, _ = run(exe, ["prune", "--resume", out])
    classify("resume after the model changed", "faults", rc, o, err, must_fail=True)
    # tampered cache
    cache = os.path.join(tempfile.mkdtemp(dir=tmp), "cache")
    run(exe, prune_args(os.path.join(tempfile.mkdtemp(dir=tmp), "fill"), extra=["--stats-cache", cache]))
    files = sorted(f for f in os.listdir(cache) if f.endswith(".safetensors"))
    for i, how in enumerate(["nan", "count", "swap", "zero"]):
        c2 = cache + f"-{how}"
        shutil.copytree(cache, c2)
        p = os.path.join(c2, files[i % len(files)])
        h, data_section = read_st(p)
        arr = bytearray(data_section)
        if how == "nan":
            s, _ = h["ff.sum"]["data_offsets"]; arr[s:s + 8] = struct.pack("<d", float("nan"))
        elif how == "count":
            s, _ = h["ff.count"]["data_offsets"]; arr[s:s + 8] = struct.pack("<d", -1.0)
        elif how == "zero":
            s, e = h["attn.sum_abs"]["data_offsets"]; arr[s:e] = bytes(e - s)
        if how == "swap":
            q = os.path.join(c2, files[(i + 1) % len(files)])
            a, b = open(p, "rb").read(), open(q, "rb").read()
            open(p, "wb").write(b); open(q, "wb").write(a)
        else:
            raw = open(p, "rb").read(); n = struct.unpack("<Q", raw[:8])[0]
            open(p, "wb").write(raw[:8 + n] + bytes(arr))
        out = os.path.join(tempfile.mkdtemp(dir=tmp), "run")
        rc, o, err, _ = run(exe, prune_args(out, extra=["--stats-cache", c2]))
        classify(f"tampered cache ({how})", "faults", rc, o, err, expect_success=True, extra_ok=rc == 0 and same_run(whole, out))
    # outputs that are inputs
    m = copy_model(tmp)
    d = tempfile.mkdtemp(dir=tmp); data = os.path.join(d, "docs.jsonl"); shutil.copy(FORGET, data)
    inputs = [m, data]
    before = [sha(p) for p in inputs]
    for label, args in [("collect --out MODEL/model.safetensors", ["collect", "--model", m, "--data", data, "--tokens", "10", "--context", "16", "--out", os.path.join(m, "model.safetensors")]),
                        ("eval --json DATA", eval_args(m, data, ["--json", data])),
                        ("logits --out MODEL/config.json", ["logits", "--model", m, "--ids", "1,2", "--out", os.path.join(m, "config.json")]),
                        ("prune --out inside MODEL", prune_args(os.path.join(m, "run"), model=m, forget=data)),
                        ("collect --merge A --out A", ["collect", "--merge", os.path.join(FIX, "pruning", "reference.safetensors"), "--out", data])]:
        rc, o, err, _ = run(exe, args)
        classify(label, "faults", rc, o, err, must_fail=True, inputs=inputs, before=before)
    # run folders whose history.json was cut short or edited: report and resume must refuse them cleanly
    base_run = os.path.join(tempfile.mkdtemp(dir=tmp), "run")
    run(exe, prune_args(base_run, extra=["--steps", "2"]))
    edits = {
        "no steps yet": lambda h: h.update(steps=[], stopped=None, top1_max_delta=None),
        "steps misnumbered": lambda h: h["steps"][1].update(step=7),
        "a step without retain metrics": lambda h: h["steps"][1]["metrics"].pop("retain"),
        "a step without drops": lambda h: h["steps"][1].update(drops={}),
        "config with ff_frac 7": lambda h: h["config"].update(ff_frac=7),
        "config without model": lambda h: h["config"].pop("model"),
        "steps not a list": lambda h: h.update(steps={"a": 1}),
    }
    for label, edit in edits.items():
        for command in ("report", "resume"):
            d = os.path.join(tempfile.mkdtemp(dir=tmp), "run")
            shutil.copytree(base_run, d)
            h = json.load(open(os.path.join(d, "history.json")))
            edit(h)
            json.dump(h, open(os.path.join(d, "history.json"), "w"))
            rc, o, err, _ = run(exe, ["report", d] if command == "report" else ["prune", "--resume", d])
            classify(f"{command} with history.json: {label}", "run folders", rc, o, err,
                     must_fail=(command == "report" or label != "no steps yet"))
    for label, content in [("empty", b""), ("truncated", open(os.path.join(base_run, "history.json"), "rb").read()[:200]), ("a list", b"[]")]:
        d = os.path.join(tempfile.mkdtemp(dir=tmp), "run")
        shutil.copytree(base_run, d)
        open(os.path.join(d, "history.json"), "wb").write(content)
        for args in (["report", d], ["prune", "--resume", d]):
            rc, o, err, _ = run(exe, args)
            classify(f"{args[0]} with history.json {label}", "run folders", rc, o, err, must_fail=True)
    # a full disk (root only: a small tmpfs)
    if os.geteuid() == 0:
        mnt = tempfile.mkdtemp(dir=tmp)
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=120k", "tmpfs", mnt]).returncode == 0:
            try:
                out = os.path.join(mnt, "run")
                rc, o, err, _ = run(exe, prune_args(out))
                left = [f for f in os.listdir(mnt) if ".tmp-" in f] + ([f for f in os.listdir(out) if ".tmp-" in f or ".old-" in f] if os.path.isdir(out) else [])
                classify("disk full during the run", "faults", rc, o, err, must_fail=True, extra_ok=not left)
                subprocess.run(["mount", "-o", "remount,size=8m", mnt])
                rc, o, err, _ = run(exe, ["prune", "--resume", out]) if os.path.exists(out) else run(exe, prune_args(out))
                classify("resume after the disk was freed", "faults", rc, o, err, expect_success=True, extra_ok=rc == 0 and same_run(whole, out))
            finally:
                subprocess.run(["umount", mnt])
    # NaN weight
    m = copy_model(tmp)
    path = os.path.join(m, "model.safetensors")
    h, data_section = read_st(path)
    name = sorted(k for k in h if "layers.0." in k and k.endswith("layer_norm.weight"))[0]
    s, _ = h[name]["data_offsets"]
    raw = bytearray(open(path, "rb").read()); n = struct.unpack("<Q", raw[:8])[0]
    raw[8 + n + s:8 + n + s + 4] = struct.pack("<f", float("nan"))
    open(path, "wb").write(bytes(raw))
    rc, o, err, _ = run(exe, eval_args(m))
    classify("NaN layer-norm weight", "faults", rc, o, err, must_fail=True)
    rc, o, err, _ = run(exe, prune_args(os.path.join(tempfile.mkdtemp(dir=tmp), "run"), model=m))
    classify("NaN layer-norm weight (prune)", "faults", rc, o, err, must_fail=True)
    rc, o, err, _ = run(exe, prune_args(os.path.join(tempfile.mkdtemp(dir=tmp), "run"), extra=["--steps", "1000000", "--ff-frac", "0.4", "--attn-frac", "0"]), timeout=120)
    classify("--steps 1000000", "faults", rc, o, err, expect_success=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--scalpel", default=os.path.join(ROOT, ".build", "release", "scalpel"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json")
    ap.add_argument("--only", nargs="*")
    a = ap.parse_args()
    exe = os.path.abspath(a.scalpel)
    rng = random.Random(a.seed)
    tmp = tempfile.mkdtemp(prefix="scalpel-sweep-")
    sweeps = [sweep_safetensors, sweep_config, sweep_tokenizer, sweep_gguf, sweep_data, sweep_arguments, sweep_faults]
    try:
        for s in sweeps:
            if a.only and s.__name__.replace("sweep_", "") not in a.only:
                continue
            s(exe, tmp, rng)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    verdicts = ["ok", "crash", "hang", "unclean", "silent", "modified"]
    cats = sorted(set(r["category"] for r in results))
    print(f"\n{'category':28s} " + " ".join(f"{v:>8s}" for v in verdicts))
    for c in cats:
        print(f"{c:28s} " + " ".join(f"{sum(1 for r in results if r['category'] == c and r['verdict'] == v):8d}" for v in verdicts))
    print(f"{'total (' + str(len(results)) + ' cases)':28s} " + " ".join(f"{sum(1 for r in results if r['verdict'] == v):8d}" for v in verdicts))
    if a.json:
        json.dump(results, open(a.json, "w"), indent=1)
    sys.exit(0 if all(r["verdict"] == "ok" for r in results) else 1)


if __name__ == "__main__":
    main()
