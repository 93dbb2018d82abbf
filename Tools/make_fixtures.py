#!/usr/bin/env python3
"""Makes the committed test fixtures under Tests/Fixtures from independent references:
HF `tokenizers` for token ids, HF `transformers` for logits and evaluation metrics.

    pip install torch==2.13.0+cpu transformers tokenizers safetensors
    python3 Tools/make_fixtures.py

Everything is seeded; rerunning reproduces the same files.
"""
import base64, json, math, os, shutil, sys, sysconfig
from collections import Counter
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, pre_tokenizers, decoders, processors, trainers
from transformers import (BertConfig, BertForMaskedLM, RobertaConfig, RobertaForMaskedLM, OPTConfig, OPTForCausalLM, GPTNeoXConfig, GPTNeoXForCausalLM, GPT2Config, GPT2LMHeadModel,
                          LlamaConfig, LlamaForCausalLM, MistralConfig, MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM)

ARCHITECTURES = {
    "opt": (OPTConfig, OPTForCausalLM), "gpt_neox": (GPTNeoXConfig, GPTNeoXForCausalLM), "gpt2": (GPT2Config, GPT2LMHeadModel),
    "bert": (BertConfig, BertForMaskedLM), "roberta": (RobertaConfig, RobertaForMaskedLM),
    "llama": (LlamaConfig, LlamaForCausalLM), "mistral": (MistralConfig, MistralForCausalLM), "qwen2": (Qwen2Config, Qwen2ForCausalLM),
}

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "Tests" / "Fixtures"

# ---------------------------------------------------------------- corpus
MIXED = [
    "Hello, world! It's a test: we'll see what they've done, isn't it? I'm sure you'd agree.",
    "def fibonacci(n):\n    if n < 2:\n        return n\n    return fibonacci(n - 1) + fibonacci(n - 2)\n",
    "for (int i = 0; i < 10; ++i) {\n\tprintf(\"%d\\n\", i);\n}\n",
    "Windows line endings\r\nsecond line\r\n\r\nthird after blank\r\n",
    "Tabs\tbetween\t\twords and    runs of     spaces   \n\n\n   trailing   ",
    "Unicode: café naïve résumé — “quotes” ‘single’ … 日本語のテキスト 中文 한국어 Ελληνικά русский العربية עברית",
    "Combining: e\u0301 a\u0308 and precomposed é ä; ligature ﬁ; fullwidth ＡＢＣ１２３; superscript x² ½",
    "Emoji: 😀 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🧪 and symbols ∑ ∫ √ ≤ ≥ ≠ → ← ©®™",
    "Numbers 12345 3.14159 1,000,000 0x1F 1e-10 and ⅔ Ⅻ ٣٤٥",
    "Special tokens inline: </s> and <pad> and <s>text</s> and <mask> after space  <mask>end.",
    "Contractions: don't DON'T it's IT'S we're they've I'll he'd 'quoted' ''double''",
    "   leading spaces and a trailing newline\n",
    "x",
    "",
    " ",
    "\n",
    "a\u00a0b\u2003c\u3000d\u2028e\u0085f",
    "mixedCASE snake_case kebab-case CamelCase __dunder__ $dollar @at #hash %percent",
    "import os\nimport sys\n\nclass Foo(object):\n    \"\"\"Docstring.\"\"\"\n    def __init__(self, x: int = 3) -> None:\n        self.x = x  # comment\n",
]
# raw byte strings with invalid UTF-8, decoded as every reader here does (errors="replace")
INVALID = [b"bad \xff\xfe bytes \xc3( and truncated \xe2\x82", b"\xed\xa0\x80 surrogate \xf4\x90\x80\x80 too big", b"ok \xc0\xaf overlong"]


def train_corpus():
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    texts = []
    for name in ["textwrap.py", "string.py", "bisect.py", "heapq.py", "this.py", "colorsys.py"]:
        p = stdlib / name
        if p.exists():
            texts.append(p.read_text(encoding="utf-8", errors="replace"))
    prose = ("The quick brown fox jumps over the lazy dog. " * 3 +
             "It was the best of times, it was the worst of times, it was the age of wisdom, "
             "it was the age of foolishness. Call me Ishmael. In the beginning God created the heaven and the earth. ")
    texts += [prose] * 20 + MIXED * 5
    return texts


def make_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1000, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(train_corpus(), trainer)
    tok.add_tokens([__import__("tokenizers").AddedToken("<mask>", lstrip=True, special=True)])
    # OPT-style: a </s> BOS before every document
    tok.post_processor = processors.TemplateProcessing(single="</s> $A", special_tokens=[("</s>", 2)])
    return tok


def roberta_variant(tok):
    """The same vocabulary with RoBERTa's processor and a prefix space: exercises those paths."""
    j = json.loads(tok.to_str())
    j["pre_tokenizer"]["add_prefix_space"] = True
    j["post_processor"] = {"type": "RobertaProcessing", "sep": ["</s>", 2], "cls": ["<s>", 0],
                           "trim_offsets": True, "add_prefix_space": True}
    return Tokenizer.from_str(json.dumps(j))


LLAMA3_PATTERN = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


def sentencepiece_bpe():
    """Llama-2 style: ▁ for spaces through normalizers, byte fallback, <s> BOS."""
    from tokenizers import normalizers
    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    specials = ["<unk>", "<s>", "</s>"] + [f"<0x{b:02X}>" for b in range(256)]
    trainer = trainers.BpeTrainer(vocab_size=800, special_tokens=specials, show_progress=False, limit_alphabet=60)
    tok.train_from_iterator(train_corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", special_tokens=[("<s>", 1)])
    return tok


def wordpiece():
    """BERT uncased style: BertNormalizer, BertPreTokenizer, WordPiece, [CLS] $A [SEP]."""
    from tokenizers import normalizers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]", max_input_chars_per_word=100))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece(prefix="##")
    trainer = trainers.WordPieceTrainer(vocab_size=900, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"], show_progress=False)
    tok.train_from_iterator(train_corpus(), trainer)
    tok.post_processor = processors.TemplateProcessing(single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)])
    return tok


def variants(bytelevel, spm):
    """tokenizer.json variants built by editing JSON, each loaded back by HF tokenizers."""
    out = {}
    j = json.loads(spm.to_str())
    j["normalizer"] = None
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    j["decoder"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": False}
    out["metaspace-first"] = j
    j = json.loads(json.dumps(j))
    j["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True}
    out["metaspace-split"] = j
    j = json.loads(bytelevel.to_str())
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": LLAMA3_PATTERN}, "behavior": "Isolated", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    j["model"]["ignore_merges"] = True
    out["llama3"] = j
    j = json.loads(bytelevel.to_str())
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Digits", "individual_digits": True},
        {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}
    out["digits-bytelevel"] = j
    j = json.loads(bytelevel.to_str())
    j["normalizer"] = {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}]}
    j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"String": "\n"}, "behavior": "Removed", "invert": False},
        {"type": "Split", "pattern": {"Regex": "[0-9]+"}, "behavior": "MergedWithPrevious", "invert": False},
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}]}
    out["normalized-splits"] = j
    return {k: Tokenizer.from_str(json.dumps(v)) for k, v in out.items()}


def tokenizer_fixtures(tok):
    out = FIX / "tokenizer"
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "bytelevel.json"))
    rob = roberta_variant(tok)
    rob.save(str(out / "roberta.json"))
    spm = sentencepiece_bpe()
    spm.save(str(out / "sentencepiece.json"))
    others = variants(tok, spm)
    others["wordpiece"] = wordpiece()
    for name, t in others.items():
        t.save(str(out / f"{name}.json"))
    raw = [t.encode("utf-8") for t in MIXED] + INVALID
    cases = []
    for b in raw:
        text = b.decode("utf-8", errors="replace")
        case = {"bytes_b64": base64.b64encode(b).decode(),
                "ids": tok.encode(text).ids,
                "ids_no_special": tok.encode(text, add_special_tokens=False).ids,
                "roberta_ids": rob.encode(text).ids,
                "decoded": tok.decode(tok.encode(text, add_special_tokens=False).ids, skip_special_tokens=False),
                "variants": {"sentencepiece": spm.encode(text).ids},
                "spm_decoded": spm.decode(spm.encode(text, add_special_tokens=False).ids, skip_special_tokens=False)}
        for name, t in others.items():
            case["variants"][name] = t.encode(text).ids
        cases.append(case)
    (out / "expected.json").write_text(json.dumps({"cases": cases}, ensure_ascii=False, indent=0))


# ---------------------------------------------------------------- models
def randomize(model, seed):
    """Random weights of a size that makes logits O(1), so a parity test can fail."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if any(k in name for k in ("layer_norm", "layernorm", "ln_", ".norm.")):
                p.copy_(1 + 0.2 * r if name.endswith("weight") else 0.2 * r)
            elif any(k in name for k in ("embed", "wte", "wpe")):
                p.copy_(r)
            elif p.dim() == 2:
                # GPT-2's Conv1D stores [in, out]
                fan_in = p.shape[0] if name.startswith("transformer.h.") else p.shape[1]
                p.copy_(r / math.sqrt(fan_in))
            else:
                p.copy_(0.2 * r)


MODEL_CONFIGS = {
    # pre-norm, relu, tied head, F32, single file
    "opt-prenorm": dict(arch="opt", hidden_size=64, num_hidden_layers=2, ffn_dim=160, num_attention_heads=4,
                        max_position_embeddings=128, activation_function="relu", dtype="float32"),
    # OPT-350m shape: post-norm, project_in/out (word_embed_proj_dim 32 != 64), gelu, BF16 weights
    "opt-postnorm-proj": dict(arch="opt", hidden_size=64, num_hidden_layers=3, ffn_dim=128, num_attention_heads=2,
                              max_position_embeddings=64, do_layer_norm_before=False, word_embed_proj_dim=32,
                              activation_function="gelu", dtype="bfloat16"),
    # word_embed_proj_dim 48 != 64 with pre-norm, no biases, no LN affine, untied head, F16, sharded
    "opt-nobias-untied": dict(arch="opt", hidden_size=64, num_hidden_layers=2, ffn_dim=96, num_attention_heads=8,
                              max_position_embeddings=64, word_embed_proj_dim=48, enable_bias=False,
                              layer_norm_elementwise_affine=False, tie_word_embeddings=False,
                              activation_function="gelu_new", dtype="float16", shard=True),
    # Pythia shape: parallel residual, partial rotary 0.25
    "neox-parallel": dict(arch="gpt_neox", hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                          max_position_embeddings=128, use_parallel_residual=True, hidden_act="gelu", dtype="float32",
                          rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "partial_rotary_factor": 0.25}),
    # sequential residual, half rotary, another base, no attention bias, F16
    "neox-sequential": dict(arch="gpt_neox", hidden_size=64, num_hidden_layers=2, intermediate_size=96, num_attention_heads=2,
                            max_position_embeddings=64, use_parallel_residual=False, hidden_act="gelu_new", attention_bias=False,
                            dtype="float16", rope_parameters={"rope_type": "default", "rope_theta": 5000.0, "partial_rotary_factor": 0.5}),
    "gpt2": dict(arch="gpt2", n_embd=64, n_layer=2, n_head=4, n_positions=128, activation_function="gelu_new", dtype="float32",
                 bos_token_id=2, eos_token_id=2),
    "gpt2-layer-scaled": dict(arch="gpt2", n_embd=48, n_layer=3, n_head=2, n_inner=80, n_positions=64, activation_function="relu",
                              scale_attn_by_inverse_layer_idx=True, dtype="bfloat16", bos_token_id=2, eos_token_id=2),
    # GQA 4 query heads / 2 kv heads, llama3 rope scaling, untied head
    "llama-gqa": dict(arch="llama", hidden_size=64, num_hidden_layers=2, intermediate_size=96, num_attention_heads=4,
                      num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-5, dtype="float32",
                      rope_parameters={"rope_type": "llama3", "rope_theta": 10000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                       "high_freq_factor": 4.0, "original_max_position_embeddings": 32}),
    # linear rope scaling, biases everywhere, tied embeddings
    "llama-linear-bias": dict(arch="llama", hidden_size=64, num_hidden_layers=2, intermediate_size=80, num_attention_heads=2,
                              max_position_embeddings=64, attention_bias=True, mlp_bias=True, tie_word_embeddings=True,
                              dtype="bfloat16", rope_parameters={"rope_type": "linear", "rope_theta": 500.0, "factor": 2.0}),
    # Qwen2: q/k/v biases, one kv head, tied
    "qwen2": dict(arch="qwen2", hidden_size=64, num_hidden_layers=2, intermediate_size=96, num_attention_heads=4,
                  num_key_value_heads=1, max_position_embeddings=128, tie_word_embeddings=True, dtype="float32",
                  rope_parameters={"rope_type": "default", "rope_theta": 1000000.0}),
    # encoders with MLM heads (tokenizers: wordpiece.json, roberta.json)
    "bert-mlm": dict(arch="bert", hidden_size=64, num_hidden_layers=2, intermediate_size=128, num_attention_heads=4,
                     max_position_embeddings=128, hidden_act="gelu", dtype="float32", tokenizer="wordpiece"),
    "roberta-mlm": dict(arch="roberta", hidden_size=64, num_hidden_layers=2, intermediate_size=96, num_attention_heads=2,
                        max_position_embeddings=130, pad_token_id=1, bos_token_id=0, eos_token_id=2, type_vocab_size=1,
                        hidden_act="gelu", dtype="float16", tokenizer="roberta"),
    # Mistral with an explicit head_dim (24 != 64 / 4) and no sliding window
    "mistral-headdim": dict(arch="mistral", hidden_size=64, num_hidden_layers=2, intermediate_size=96, num_attention_heads=4,
                            num_key_value_heads=2, head_dim=24, max_position_embeddings=128, sliding_window=None, dtype="float32",
                            rope_parameters={"rope_type": "default", "rope_theta": 10000.0}),
}


def build_model(name, spec, vocab, seed):
    spec = dict(spec)
    spec.pop("tokenizer", None)
    dtype = spec.pop("dtype")
    shard = spec.pop("shard", False)
    config_class, model_class = ARCHITECTURES[spec.pop("arch")]
    if config_class is OPTConfig:
        spec.update(pad_token_id=1, bos_token_id=2, eos_token_id=2, dropout=0.0)
    cfg = config_class(vocab_size=vocab, **spec)
    torch.manual_seed(seed)
    model = model_class(cfg).eval()
    randomize(model, seed)
    if not cfg.tie_word_embeddings:
        with torch.no_grad():
            head = model.get_output_embeddings()
            head.weight.copy_(torch.randn(head.weight.shape, generator=torch.Generator().manual_seed(seed + 1)))
    # round to the stored precision, then compute references in float32 from exactly those weights
    t = getattr(torch, dtype)
    model = model.to(t)
    out = FIX / "models" / name
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out, max_shard_size="200KB" if shard else "1GB")
    # the reference is the checkpoint as a user loads it: fresh from disk in float32
    # (so buffers such as rotary frequencies are computed in float32, not rounded to the stored dtype)
    model = model_class.from_pretrained(out, dtype=torch.float32).eval()
    return model, out


def max_positions(cfg):
    return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions")


def model_fixtures(tok, only=None):
    texts = [MIXED[1], MIXED[0], MIXED[5], MIXED[12]]
    tokenizers_by_name = {"roberta": roberta_variant(tok), "wordpiece": wordpiece()}
    for i, (name, spec) in enumerate(MODEL_CONFIGS.items()):
        if only and name not in only:
            continue
        mtok = tokenizers_by_name.get(spec.get("tokenizer"), tok)
        model, out = build_model(name, spec, mtok.get_vocab_size(), seed=100 + i)
        mtok.save(str(out / "tokenizer.json"))
        tok_for_refs = mtok
        records = {}
        for j, text in enumerate(texts):
            ids = tok_for_refs.encode(text).ids[: max_positions(model.config) - (2 if spec["arch"] == "roberta" else 0)]
            with torch.inference_mode():
                logits = model(torch.tensor([ids])).logits[0]
            records[f"ids_{j}"] = torch.tensor(ids, dtype=torch.int32)
            records[f"logits_{j}"] = logits.contiguous()
        from safetensors.torch import save_file
        save_file(records, str(FIX / "models" / f"{name}.reference.safetensors"))
        print(name, "max |logit|", max(float(records[f"logits_{j}"].abs().max()) for j in range(len(texts))))


# ---------------------------------------------------------------- safetensors
def safetensors_fixtures():
    """One tensor per dtype with known values; the expected Float32 values beside it as JSON."""
    from safetensors.torch import save_file
    out = FIX / "safetensors"
    out.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(7)
    base = torch.randn(3, 5, generator=g) * 10
    tensors = {
        "f32": base.clone(),
        "f16": base.to(torch.float16),
        "bf16": base.to(torch.bfloat16),
        "f64": base.to(torch.float64),
        "i64": torch.arange(-3, 4, dtype=torch.int64),
        "i32": torch.arange(5, dtype=torch.int32) * 1000,
        "u8": torch.tensor([0, 1, 255], dtype=torch.uint8),
        "scalar": torch.tensor(2.5),
        "empty": torch.zeros(0, 4),
    }
    save_file(tensors, str(out / "dtypes.safetensors"), metadata={"format": "pt", "note": "scalpel fixture"})
    expected = {k: {"shape": list(v.shape), "values": v.to(torch.float64).flatten().tolist()} for k, v in tensors.items()}
    (out / "dtypes.json").write_text(json.dumps(expected))


# ---------------------------------------------------------------- evaluation
def write_data():
    """A small data set: nested folders of text files and a .jsonl with two fields."""
    d = FIX / "data"
    if d.exists():
        shutil.rmtree(d)
    (d / "prose" / "b").mkdir(parents=True)
    (d / "prose" / "a.txt").write_text(MIXED[0] + " " + MIXED[10] + "\n" + MIXED[5])
    (d / "prose" / "b" / "c.txt").write_text(MIXED[11] * 3 + MIXED[16])
    (d / "prose" / "b" / "b.txt").write_text(MIXED[6] + MIXED[7] + MIXED[8])
    (d / "prose" / ".hidden.txt").write_text("never read: hidden files are skipped")
    (d / "code").mkdir()
    lines = [{"text": MIXED[k], "content": MIXED[(k + 3) % len(MIXED)]} for k in (1, 2, 18, 17, 3)]
    with open(d / "code" / "docs.jsonl", "w") as f:
        for L in lines:
            f.write(json.dumps(L) + "\n")
        f.write("\n")  # blank lines are skipped
    return d


def read_documents(path, text_field="text"):
    """METHOD.md §6, independently: a file or a folder read recursively in sorted path order."""
    p = Path(path)
    if p.is_dir():
        files = sorted((q for q in p.rglob("*") if q.is_file() and not any(part.startswith(".") for part in q.relative_to(p).parts)),
                       key=lambda q: str(q.relative_to(p)).encode())
    else:
        files = [p]
    docs = []
    for f in files:
        text = f.read_bytes().decode("utf-8", errors="replace")
        if f.suffix == ".jsonl":
            for line in text.split("\n"):
                if line.strip():
                    docs.append(json.loads(line)[text_field])
        else:
            docs.append(text)
    return docs


def select_windows(tok, path, context, skip=0, count=None):
    """METHOD.md §6's windows, independently of Scalpel: each document tokenized whole and cut into
    consecutive windows of `context`, predictions numbered in stream order. Returns
    [(window ids, lo, hi)] whose predictions lo..hi-1 cover [skip, skip + count) (count None: to
    the end of the data); asking for more predictions than the data holds is an error."""
    out, n = [], 0
    end = float("inf") if count is None else skip + count
    for doc in read_documents(path):
        ids = tok.encode(doc).ids
        for w in range(0, len(ids), context):
            win = ids[w:w + context]
            if len(win) < 2:
                continue
            preds = len(win) - 1
            lo, hi = max(0, skip - n), min(preds, end - n)
            if lo < hi:
                out.append((win, lo, int(hi)))
            n += preds
            if n >= end:
                return out
    if count is not None:
        raise SystemExit(f"{path}: {n} predictions at context {context}, fewer than the {skip + count} asked for")
    return out


def evaluate(model, tok, path, context, skip, count, text_field="text"):
    preds = []  # (logits row, target) in stream order
    for doc in read_documents(path, text_field):
        ids = tok.encode(doc).ids
        for w in range(0, len(ids), context):
            window = ids[w:w + context]
            if len(window) < 2:
                continue
            with torch.inference_mode():
                logits = model(torch.tensor([window])).logits[0]
            for i in range(len(window) - 1):
                preds.append((logits[i], window[i + 1]))
    return metrics(preds, skip, count)


MASK64 = (1 << 64) - 1


class SplitMix64:
    """The generator Scalpel seeds its masking with (METHOD.md §6), reimplemented here."""
    def __init__(self, seed):
        self.state = seed & MASK64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def unit(self):
        return (self.next() >> 11) / float(1 << 53)


def corrupt(tokens, window, seed, mask_id, vocab, specials):
    g = SplitMix64((seed * 0x9E3779B97F4A7C15 + window) & MASK64)
    inp, positions, targets = list(tokens), [], []
    for i, t in enumerate(tokens):
        chosen = g.unit() < 0.15
        action = g.unit()
        rnd = g.next() % vocab
        if not chosen or t in specials:
            continue
        positions.append(i)
        targets.append(t)
        if action < 0.8:
            inp[i] = mask_id
        elif action < 0.9:
            inp[i] = rnd
    return inp, positions, targets


def evaluate_masked(model, tok, path, context, skip, count, mask_token, seed=0):
    specials = {t.id if hasattr(t, "id") else t for t in []}
    specials = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
    mask_id = tok.token_to_id(mask_token)
    vocab = model.config.vocab_size
    preds = []
    w_index = 0
    for doc in read_documents(path):
        ids = tok.encode(doc).ids
        for w in range(0, len(ids), context):
            window = ids[w:w + context]
            inp, positions, targets = corrupt(window, w_index, seed, mask_id, vocab, specials)
            w_index += 1
            if not positions:
                continue
            with torch.inference_mode():
                logits = model(torch.tensor([inp])).logits[0]
            for p_, t in zip(positions, targets):
                preds.append((logits[p_], t))
    return metrics(preds, skip, count)


def metrics(preds, skip, count):
    total = len(preds)
    if count is None:
        count = total - skip
    chosen = preds[skip:skip + count]
    portion = preds[:skip] if skip > 0 else chosen
    counts = Counter(t for _, t in portion)
    frequent = {t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50]}
    loss = top1 = top10 = s_hit = s_n = 0.0
    for logits, t in chosen:
        lp = torch.log_softmax(logits.double(), -1)
        loss -= float(lp[t])
        rank = int((logits > logits[t]).sum())
        top1 += rank < 1
        top10 += rank < 10
        if t not in frequent:
            s_n += 1
            s_hit += rank < 1
    n = len(chosen)
    return {"loss": loss / n, "perplexity": math.exp(loss / n), "top1": top1 / n, "top10": top10 / n,
            "top1_skip50": s_hit / s_n if s_n else 0.0, "predictions": n, "total_predictions": total}


def eval_fixtures(tok):
    d = write_data()
    model = OPTForCausalLM.from_pretrained(FIX / "models" / "opt-prenorm", dtype=torch.float32).eval()
    cases = [
        {"data": "prose", "context": 32, "skip": 0, "tokens": None},
        {"data": "prose", "context": 16, "skip": 20, "tokens": 100},
        {"data": "code/docs.jsonl", "context": 24, "skip": 0, "tokens": None},
        {"data": "code/docs.jsonl", "context": 128, "skip": 5, "tokens": 40, "text_field": "content"},
    ]
    for c in cases:
        c["expected"] = evaluate(model, tok, d / c["data"], c["context"], c["skip"], c["tokens"], c.get("text_field", "text"))
    (FIX / "eval-expected.json").write_text(json.dumps({"model": "models/opt-prenorm", "cases": cases}, indent=1))
    masked = []
    for name, mask_token, context, skip, count in [("roberta-mlm", "<mask>", 32, 0, None), ("bert-mlm", "[MASK]", 24, 10, 30)]:
        folder = FIX / "models" / name
        model = ARCHITECTURES[MODEL_CONFIGS[name]["arch"]][1].from_pretrained(folder, dtype=torch.float32).eval()
        mtok = Tokenizer.from_file(str(folder / "tokenizer.json"))
        masked.append({"model": f"models/{name}", "data": "prose", "context": context, "skip": skip, "tokens": count,
                       "expected": evaluate_masked(model, mtok, d / "prose", context, skip, count, mask_token)})
    (FIX / "eval-expected-masked.json").write_text(json.dumps({"cases": masked}, indent=1))


if __name__ == "__main__":
    torch.set_num_threads(2)
    tok = make_tokenizer()
    if len(sys.argv) > 1:  # just these model fixtures
        model_fixtures(tok, only=sys.argv[1:])
        sys.exit(0)
    tokenizer_fixtures(tok)
    safetensors_fixtures()
    model_fixtures(tok)
    eval_fixtures(tok)
    print("fixtures written under", FIX)
