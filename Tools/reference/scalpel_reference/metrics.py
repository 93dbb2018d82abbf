"""Evaluation metrics (METHOD.md §7) computed with transformers' logits, independently of Scalpel."""
import math
from collections import Counter

import torch

from .data import read_documents
from .masking import corrupt


def evaluate(model, tok, path, context, skip, count, text_field="text"):
    preds, total = [], 0  # (loss, rank, target) in stream order, up to skip + count; total: all predictions
    need = None if count is None else skip + count
    for doc in read_documents(path, text_field):
        ids = tok.encode(doc).ids
        for w in range(0, len(ids), context):
            window = ids[w:w + context]
            if len(window) < 2:
                continue
            total += len(window) - 1
            if need is not None and len(preds) >= need:
                continue  # counted, not run: metrics use only the first skip + count
            with torch.inference_mode():
                logits = model(torch.tensor([window])).logits[0]
            for i in range(len(window) - 1):
                preds.append(score(logits[i], window[i + 1]))
    return metrics(preds, skip, count, total)


def evaluate_masked(model, tok, path, context, skip, count, mask_token, seed=0):
    specials = {t.id if hasattr(t, "id") else t for t in []}
    specials = {i for i, t in tok.get_added_tokens_decoder().items() if t.special}
    mask_id = tok.token_to_id(mask_token)
    vocab = model.config.vocab_size
    preds, total = [], 0
    need = None if count is None else skip + count
    w_index = 0
    for doc in read_documents(path):
        ids = tok.encode(doc).ids
        for w in range(0, len(ids), context):
            window = ids[w:w + context]
            inp, positions, targets = corrupt(window, w_index, seed, mask_id, vocab, specials)
            w_index += 1
            total += len(positions)
            if not positions or (need is not None and len(preds) >= need):
                continue
            with torch.inference_mode():
                logits = model(torch.tensor([inp])).logits[0]
            for p_, t in zip(positions, targets):
                preds.append(score(logits[p_], t))
    return metrics(preds, skip, count, total)


def score(logits, t):
    """One prediction, kept instead of its logits row: (−log p(t), rank of t, t); rank 0 is top-1."""
    lp = torch.log_softmax(logits.double(), -1)
    return -float(lp[t]), int((logits > logits[t]).sum()), t


def metrics(preds, skip, count, total=None):
    """METHOD.md §7's metrics of preds[skip:skip + count] (count None: to the end); `preds` holds
    (loss, rank, target) per prediction in stream order, `total` all the data's predictions."""
    total = len(preds) if total is None else total
    if count is None:
        count = len(preds) - skip
    chosen = preds[skip:skip + count]
    portion = preds[:skip] if skip > 0 else chosen
    counts = Counter(t for _, _, t in portion)
    frequent = {t for t, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50]}
    loss = top1 = top10 = s_hit = s_n = 0.0
    for nll, rank, t in chosen:
        loss += nll
        top1 += rank < 1
        top10 += rank < 10
        if t not in frequent:
            s_n += 1
            s_hit += rank < 1
    n = len(chosen)
    return {"loss": loss / n, "perplexity": math.exp(loss / n), "top1": top1 / n, "top10": top10 / n,
            "top1_skip50": s_hit / s_n if s_n else 0.0, "predictions": n, "total_predictions": total}
