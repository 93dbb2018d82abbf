#!/usr/bin/env python3
"""A vocabulary-only GGUF in llama.cpp's SentencePiece form (tokenizer.ggml.model "llama": tokens,
scores, token types), made from the fixture SentencePiece-style tokenizer, and the token ids
transformers' tokenizer built from that GGUF gives for the mixed corpus (Tests/Fixtures/gguf/).

    pip install gguf && python3 Tools/make_gguf_vocab_fixture.py
"""
import base64, json, sys
from pathlib import Path
import gguf
from transformers import AutoTokenizer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_fixtures import FIX, MIXED, INVALID

src = json.loads((FIX / "tokenizer" / "sentencepiece.json").read_text())
vocab = src["model"]["vocab"]
tokens = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
out = FIX / "gguf"
out.mkdir(parents=True, exist_ok=True)
w = gguf.GGUFWriter(str(out / "spm-vocab.gguf"), "llama")
w.add_tokenizer_model("llama")
w.add_token_list(tokens)
# scores fall with the id (SentencePiece orders pieces by score); a few ties exercise the tie-breaking
w.add_token_scores([-float(i // 3) for i in range(len(tokens))])
types = []
for t in tokens:
    types.append(2 if t == "<unk>" else 3 if t in ("<s>", "</s>") else 6 if t.startswith("<0x") and len(t) == 6 else 1)
w.add_token_types(types)
w.add_bos_token_id(1)
w.add_eos_token_id(2)
w.add_unk_token_id(0)
w.add_add_bos_token(True)
w.write_header_to_file()
w.write_kv_data_to_file()
w.write_tensors_to_file()
w.close()
tok = AutoTokenizer.from_pretrained(out, gguf_file="spm-vocab.gguf")
cases = []
for b in [t.encode("utf-8") for t in MIXED] + INVALID:
    text = b.decode("utf-8", errors="replace")
    cases.append({"bytes_b64": base64.b64encode(b).decode(), "ids": tok(text).input_ids})
(out / "spm-vocab.expected.json").write_text(json.dumps({"cases": cases}))
print("wrote", out / "spm-vocab.gguf")
