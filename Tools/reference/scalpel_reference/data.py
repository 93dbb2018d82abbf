"""Documents and windows (METHOD.md §6), independently of Scalpel."""
import json
from pathlib import Path


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
