#!/usr/bin/env python3
"""Writes Fashion-MNIST as ImageFolder trees of PNG files, for `scalpel` (image experiments).

    apt-get install -y dataset-fashion-mnist
    python3 Tools/data/fashion_mnist_folders.py [--out demo-data/fashion-mnist] [--splits train,test]

Reads Debian's idx files (/usr/share/datasets/fashion-mnist) and writes
OUT/train/<class>/00000.png ... (60,000 images) and OUT/test/<class>/00000.png ... (10,000),
8-bit grey PNGs named by their index in the idx file, one sub-folder per class named as the
model's id2label (models/vit-fashion/config.json). Each split is written into a temporary
folder and renamed into place; an existing complete split is left as it is.
"""
import argparse
import shutil
from pathlib import Path

from PIL import Image

from scalpel_reference.fashion_mnist import CLASSES, load

ROOT = Path(__file__).resolve().parents[2]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default=str(ROOT / "demo-data" / "fashion-mnist"))
    ap.add_argument("--splits", default="train,test", help="which splits to write (comma-separated)")
    args = ap.parse_args()
    for split in args.splits.split(","):
        final = Path(args.out) / split
        if (final / ".complete").exists():
            print(f"{final}: already written")
            continue
        x, y = load(split)
        tmp = final.with_name(split + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        for c in CLASSES:
            (tmp / c).mkdir(parents=True)
        for i in range(len(x)):
            Image.fromarray(x[i], "L").save(tmp / CLASSES[y[i]] / f"{i:05d}.png")
        (tmp / ".complete").write_text(f"{len(x)}\n")
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        print(f"{final}: {len(x)} images in {len(CLASSES)} class folders")


if __name__ == "__main__":
    main()
