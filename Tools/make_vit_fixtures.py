#!/usr/bin/env python3
"""ViT fixtures: a random-init ViTForImageClassification, its preprocessor_config.json, a small
ImageFolder of PNG and JPEG images (RGB, RGBA, grey, palette; several sizes), and references
from HF: pixel values (ViTImageProcessorPil) and logits (transformers) for every image.

    pip install pillow && python3 Tools/make_vit_fixtures.py
"""
import json, math, shutil
from pathlib import Path
import numpy as np
import torch
from PIL import Image
from safetensors.torch import save_file
from transformers import ViTConfig, ViTForImageClassification
from transformers.models.vit.image_processing_pil_vit import ViTImageProcessorPil

ROOT = Path(__file__).resolve().parent.parent
FIX = ROOT / "Tests" / "Fixtures"
LABELS = ["bird", "cat", "dog", "frog"]


def images():
    d = FIX / "images"
    if d.exists():
        shutil.rmtree(d)
    rng = np.random.default_rng(11)
    sizes = [(40, 30), (64, 64), (17, 23), (32, 32), (50, 41), (29, 60)]
    modes = ["RGB", "RGBA", "L", "P", "RGB", "RGB"]
    k = 0
    for c, label in enumerate(LABELS):
        (d / label).mkdir(parents=True)
        for j in range(3):
            w, h = sizes[(c + j) % len(sizes)]
            # smooth colour fields plus noise, different per class
            yy, xx = np.mgrid[0:h, 0:w]
            base = np.stack([np.sin(xx / (3 + c) + j) * 100 + 128, np.cos(yy / (2 + j) + c) * 100 + 128,
                             (xx + yy) * (c + 1) % 256], -1)
            arr = np.clip(base + rng.normal(0, 20, base.shape), 0, 255).astype(np.uint8)
            img = Image.fromarray(arr, "RGB")
            mode = modes[k % len(modes)]
            if mode == "RGBA":
                img = img.convert("RGBA")
            elif mode in ("L", "P"):
                img = img.convert(mode)
            if j == 2:
                img.convert("RGB").save(d / label / f"{label}{j}.jpg", quality=90)
            else:
                img.save(d / label / f"{label}{j}.png")
            k += 1
    return d


def main():
    torch.manual_seed(5)
    cfg = ViTConfig(image_size=32, patch_size=8, num_channels=3, hidden_size=48, num_hidden_layers=2, num_attention_heads=4,
                    intermediate_size=96, hidden_act="gelu", num_labels=4, id2label=dict(enumerate(LABELS)),
                    label2id={l: i for i, l in enumerate(LABELS)})
    model = ViTForImageClassification(cfg).eval()
    g = torch.Generator().manual_seed(6)
    with torch.no_grad():
        for name, p in model.named_parameters():
            r = torch.randn(p.shape, generator=g)
            if "layernorm" in name:
                p.copy_(1 + 0.2 * r if name.endswith("weight") else 0.2 * r)
            elif p.dim() >= 2 and "embeddings" not in name:
                p.copy_(r / math.sqrt(p[0].numel()))
            elif "embeddings" in name and "projection" not in name:
                p.copy_(r)
            elif "projection.weight" in name:
                p.copy_(r / math.sqrt(p[0].numel()))
            else:
                p.copy_(0.2 * r)
    out = FIX / "models" / "vit"
    if out.exists():
        shutil.rmtree(out)
    model.save_pretrained(out)
    processor = ViTImageProcessorPil(size={"height": 32, "width": 32})
    processor.save_pretrained(out)
    model = ViTForImageClassification.from_pretrained(out, dtype=torch.float32).eval()
    d = images()
    records, index = {}, []
    for i, path in enumerate(sorted(p for p in d.rglob("*") if p.is_file())):
        pixels = processor(Image.open(path).convert("RGB"), return_tensors="pt")["pixel_values"]
        with torch.inference_mode():
            logits = model(pixel_values=pixels).logits[0]
        records[f"pixels_{i}"] = pixels[0].contiguous()
        records[f"logits_{i}"] = logits.contiguous()
        index.append(str(path.relative_to(d)))
    save_file(records, str(FIX / "models" / "vit.reference.safetensors"))
    (FIX / "models" / "vit.reference.json").write_text(json.dumps({"images": index}, indent=1))
    print("wrote", len(index), "images and references")


if __name__ == "__main__":
    main()
