#!/usr/bin/env python3
"""Converts a multiple-choice data set in the Hub's usual shape (a question, a list of choices and
the answer's index, as WMDP and MMLU ship them) into Scalpel's `--mc` JSONL, with
lm-evaluation-harness's prompt for those tasks, so that `scalpel eval --mc` and `lm_eval --tasks
wmdp_bio` / `mmlu_*` (zero-shot) score the same requests:

    --format letters (wmdp_bio, mmlu_*):
    context = DESCRIPTION + question.strip() + "\\nA. c0\\nB. c1\\nC. c2\\nD. c3\\nAnswer:"
    choices = [" A", " B", " C", " D"]          (the harness's target delimiter " " + the letter)
    DESCRIPTION = "The following are multiple choice questions (with answers) about SUBJECT.\\n\\n"

    --format cloze (mmlu_*_continuation: each choice's own text is scored, which small models can do):
    context = DESCRIPTION + "Question: " + question.strip() + "\\nAnswer:"
    choices = [" c0", " c1", ...]
    DESCRIPTION = "The following are questions (with answers) about SUBJECT.\\n\\n"

SUBJECT: `--subject biology` for WMDP-bio; MMLU rows carry their subject; `--subject ''`: no description.

    python3 Tools/data/mc_convert.py IN OUT.jsonl [--format letters|cloze] [--subject biology] [--limit N]

IN: .parquet (needs pandas and pyarrow), .jsonl, .json (a list of rows) or .csv (MMLU's original
headerless CSV: question, A, B, C, D, answer letter). Row fields: question, choices (a list),
answer (an index, or a letter A-D); an optional subject (MMLU: "high_school_biology").
"""
import argparse, csv, json, sys
from pathlib import Path

LETTERS = "ABCDEFGHIJ"


def rows(path):
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pandas as pd  # only for parquet
        for r in pd.read_parquet(path).to_dict("records"):
            r["choices"] = list(r["choices"])
            yield r
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    yield json.loads(line)
    elif suffix == ".json":
        yield from json.loads(path.read_text(encoding="utf-8"))
    elif suffix == ".csv":
        with open(path, encoding="utf-8", newline="") as f:
            for r in csv.reader(f):
                yield {"question": r[0], "choices": r[1:-1], "answer": r[-1]}
    else:
        sys.exit(f"{path}: unsupported format (use .parquet, .jsonl, .json or .csv)")


def convert(row, subject, form):
    choices = [str(c) for c in row["choices"]]
    if not 2 <= len(choices) <= len(LETTERS):
        raise ValueError(f"{len(choices)} choices")
    answer = row["answer"]
    answer = LETTERS.index(answer.strip()) if isinstance(answer, str) and not answer.strip().isdigit() else int(answer)
    if not 0 <= answer < len(choices):
        raise ValueError(f"answer {answer} of {len(choices)} choices")
    subject = subject if subject is not None else str(row.get("subject", "")).replace("_", " ")
    if form == "cloze":
        description = f"The following are questions (with answers) about {subject}.\n\n" if subject else ""
        return {"context": description + "Question: " + str(row["question"]).strip() + "\nAnswer:",
                "choices": [f" {c}" for c in choices], "answer": answer}
    description = f"The following are multiple choice questions (with answers) about {subject}.\n\n" if subject else ""
    lines = [str(row["question"]).strip()] + [f"{LETTERS[i]}. {c}" for i, c in enumerate(choices)]
    return {"context": description + "\n".join(lines) + "\nAnswer:", "choices": [f" {LETTERS[i]}" for i in range(len(choices))],
            "answer": answer}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path)
    p.add_argument("output", type=Path)
    p.add_argument("--subject", help="the subject in the description (default: each row's subject field, if any)")
    p.add_argument("--limit", type=int, help="convert at most this many rows")
    p.add_argument("--format", choices=["letters", "cloze"], default="letters", help="the harness's prompt (see above)")
    args = p.parse_args()
    out = []
    for n, row in enumerate(rows(args.input), 1):
        if args.limit is not None and len(out) >= args.limit:
            break
        try:
            out.append(convert(row, args.subject, args.format))
        except (KeyError, ValueError) as e:
            sys.exit(f"{args.input}: row {n}: {e}")
    tmp = args.output.with_suffix(args.output.suffix + ".tmp")
    tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in out), encoding="utf-8")
    tmp.replace(args.output)
    print(f"wrote {args.output}: {len(out)} items")


if __name__ == "__main__":
    main()
