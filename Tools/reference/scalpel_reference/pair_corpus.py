"""The dropout pairs' and the masked LM's corpus: documents of a folder and the held-out split."""
from pathlib import Path


def documents(folder):
    """(path, text) of every file under `folder`, in sorted path order."""
    files = sorted(p for p in Path(folder).rglob("*") if p.is_file())
    return [(p, p.read_text(encoding="utf-8", errors="replace")) for p in files]


def split(docs):
    """(training, held out): every tenth document (index 9, 19, ...) is held out."""
    train = [d for i, d in enumerate(docs) if i % 10 != 9]
    held = [d for i, d in enumerate(docs) if i % 10 == 9]
    return train, held
