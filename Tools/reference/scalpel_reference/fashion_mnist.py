"""Fashion-MNIST from Debian's dataset-fashion-mnist (idx files), as the image experiments read it."""
import gzip
from pathlib import Path

import numpy as np

DATA = Path("/usr/share/datasets/fashion-mnist")
# the class names, in label order: the ViT's id2label and the ImageFolder's sub-folder names
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def idx(path):
    """An idx file (gzip): uint8 array with the shape its header names."""
    raw = gzip.open(path, "rb").read()
    if raw[:2] != b"\0\0" or raw[2] != 8:
        raise SystemExit(f"{path}: not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(shape)


def load(split):
    """(images uint8 [N, 28, 28], labels uint8 [N]) of "train" (60,000) or "test" (10,000)."""
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is missing: apt-get install -y dataset-fashion-mnist")
    prefix = "train" if split == "train" else "t10k"
    return idx(DATA / f"{prefix}-images-idx3-ubyte.gz"), idx(DATA / f"{prefix}-labels-idx1-ubyte.gz")


def to_pixels(x, mean, std):
    """uint8 [N, 28, 28] -> float32 torch [N, 3, 28, 28], as the image processor computes it
    (grey to three equal channels, rescale 1/255, normalise)."""
    import torch
    t = torch.from_numpy(x.astype(np.float32) / 255.0)
    t = (t - mean) / std
    return t[:, None].expand(-1, 3, -1, -1).contiguous()


def top1(model, x, y, batch=500):
    """Fraction of images whose argmax logit is the label (transformers' ViTForImageClassification, eval mode)."""
    import torch
    model.eval()
    right = 0
    with torch.inference_mode():
        for i in range(0, len(x), batch):
            right += (model(pixel_values=x[i:i + batch]).logits.argmax(-1) == y[i:i + batch]).sum().item()
    return right / len(x)
