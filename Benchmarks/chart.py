#!/usr/bin/env python3
"""Draws docs/performance.svg from .bench/bench.json and .bench/bench-steps.json (made by
Benchmarks/bench.py and `bench.py --only steps`): throughput of Scalpel and PyTorch as a fraction
of the sgemm limit, and per-step time with and without compaction. Plain SVG, no plotting library.

    python3 Benchmarks/chart.py [--out docs/performance.svg]
"""
import argparse, json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / ".bench"


def bars(x0, y0, w, h, title, groups, unit, vmax):
    """groups: [(label, [(series, value, color)])] as vertical bars."""
    out = [f'<text x="{x0 + w / 2}" y="{y0 - 8}" text-anchor="middle" font-weight="bold">{title}</text>',
           f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="#333"/>']
    gw = w / len(groups)
    for gi, (label, series) in enumerate(groups):
        bw = gw * 0.7 / len(series)
        for si, (name, value, color) in enumerate(series):
            bh = h * value / vmax
            x = x0 + gi * gw + gw * 0.15 + si * bw
            out.append(f'<rect x="{x:.1f}" y="{y0 + h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" fill="{color}"/>')
            out.append(f'<text x="{x + bw / 2 - 1:.1f}" y="{y0 + h - bh - 3:.1f}" text-anchor="middle" font-size="11">{value:.0f}{unit}</text>')
        out.append(f'<text x="{x0 + gi * gw + gw / 2:.1f}" y="{y0 + h + 16}" text-anchor="middle" font-size="12">{label}</text>')
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(ROOT / "docs" / "performance.svg"))
    a = ap.parse_args()
    b = json.loads((BENCH / "bench.json").read_text())
    s = json.loads((BENCH / "bench-steps.json").read_text())
    share = b["median_shares"]
    S, P, C = "#2b6cb0", "#c05621", "#718096"
    svg = ['<svg xmlns="http://www.w3.org/2000/svg" width="900" height="330" font-family="sans-serif" font-size="12">',
           '<rect width="900" height="330" fill="white"/>']
    svg += bars(40, 40, 380, 220, "Share of the sgemm limit (median of runs)", [
        ("evaluation", [("Scalpel", 100 * share["eval_scalpel"], S), ("PyTorch", 100 * share["eval_torch"], P)]),
        ("collection", [("Scalpel", 100 * share["collect_scalpel"], S), ("PyTorch", 100 * share["collect_torch"], P)]),
    ], "%", 100)
    top = max(max(x["seconds"] for x in s["compacted"]), max(x["seconds"] for x in s["full-size"])) * 1.15
    svg += bars(480, 40, 390, 220, "Pruning step seconds, 10% more FF pruned each step", [
        (f"step {c['step']}", [("compacted", c["seconds"], S), ("full-size", f["seconds"], C)])
        for c, f in zip(s["compacted"], s["full-size"])], "", top)
    legend = [("Scalpel / compacted", S), ("PyTorch", P), ("full-size (--no-compact)", C)]
    for i, (name, color) in enumerate(legend):
        svg.append(f'<rect x="{60 + i * 230}" y="300" width="12" height="12" fill="{color}"/><text x="{78 + i * 230}" y="310">{name}</text>')
    svg.append("</svg>")
    Path(a.out).write_text("\n".join(svg) + "\n")
    print("wrote", a.out)


if __name__ == "__main__":
    main()
