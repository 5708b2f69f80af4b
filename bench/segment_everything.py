#!/usr/bin/env python3
"""Segment everything and masks for boxes: speed and memory of `samkit auto` and
`samkit masks-from-boxes`, in one run.

    python3 bench/segment_everything.py [--runs 3] [--skip-memory]

Needs `pip install -r requirements-bench.txt` and a built `target/release/samkit`
(`cargo build --release -p samkit-cli`). The test photos are made from the bundled
samples (Lanczos resampling): `coffee.png` at 1024x683 (a "~1024-px photo") and at
4000x3000 (a camera-sized one, for memory). Prints a Markdown table:

1. `samkit bench --auto`: SAM's generator with its defaults (32x32 points) after the
   encoder, against 1024 x one ONNX Runtime decoder click timed in the same run;
2. `samkit masks-from-boxes` on the boxes of `samkit auto`'s COCO output for the four
   samples (segmentation removed): boxes per second as the command reports it;
3. peak RSS of `samkit auto` on the 4000x3000 photo with `--crop-n-layers 1` (goal:
   under 1.5 GB), from /usr/bin/time (GNU time; `getrusage` of the child otherwise).
"""
import argparse
import json
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / "target" / "release" / "samkit"


def run(*args, **kw):
    return subprocess.run([str(BIN), *map(str, args)], check=True, capture_output=True, text=True, **kw)


def photo(out_dir, w, h):
    path = out_dir / f"coffee-{w}x{h}.jpg"
    if not path.exists():
        Image.open(ROOT / "samples" / "coffee.png").convert("RGB").resize((w, h), Image.LANCZOS).save(path, quality=92)
    return path


def peak_rss_mb(cmd):
    gnu_time = Path("/usr/bin/time")
    if gnu_time.exists():
        out = subprocess.run([str(gnu_time), "-v", *map(str, cmd)], capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{cmd} failed:\n{out.stderr[-2000:]}")
        kb = int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", out.stderr).group(1))
        return kb / 1024
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(list(map(str, cmd)), check=True, capture_output=True)
    return max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    if not BIN.exists():
        sys.exit(f"{BIN} not found: cargo build --release -p samkit-cli")
    work = Path(tempfile.mkdtemp(prefix="samkit-bench-auto-"))
    rows = []

    p1024 = photo(work, 1024, 683)
    b = json.loads(run("bench", "--auto", "--image", p1024, "--runs", args.runs, "--json").stdout)
    rows.append(("segment everything, generator after encoding", f"{b['generate_s']:.2f} s", f"{b['masks']} masks, {b['points']} points"))
    rows.append(("segment everything, per image (with the encoder)", f"{b['seconds_per_image']:.2f} s", f"encoder {b['encoder_ms'] / 1e3:.2f} s"))
    rows.append(("per-point loop over the ONNX decoder", f"{b['onnx_loop_s']:.2f} s", f"{b['points']} x {b['onnx_click_ms']:.1f} ms"))
    rows.append(("speed-up of the generator vs the ONNX loop", f"{b['speedup_vs_onnx_loop']:.2f}x", "same run, alternating"))

    coco = work / "auto.json"
    # Boxes of real objects: segment everything on the samples (16 x 16 points is enough).
    run("auto", *sorted((ROOT / "samples").glob("*.png")), ROOT / "samples" / "rocket.jpg", "--format", "coco", "--out", coco, "--points-per-side", 16)
    doc = json.loads(coco.read_text())
    for a in doc["annotations"]:
        a.pop("segmentation", None)
    boxes = work / "boxes.json"
    boxes.write_text(json.dumps(doc))
    t = time.perf_counter()
    out = run("masks-from-boxes", boxes, "--images", ROOT / "samples", "--out", work / "masks.json")
    wall = time.perf_counter() - t
    rate = float(re.search(r"\(([\d.]+) boxes per second\)", out.stdout + out.stderr).group(1))
    rows.append(("masks-from-boxes", f"{rate:.1f} boxes/s", f"{len(doc['annotations'])} boxes on {len(doc['images'])} images; {wall:.1f} s wall with model load"))

    if not args.skip_memory:
        big = photo(work, 4000, 3000)
        mb = peak_rss_mb([BIN, "auto", big, "--crop-n-layers", "1", "--out", work / "big", "--no-cache"])
        rows.append(("peak RSS, auto --crop-n-layers 1 on 4000x3000", f"{mb:.0f} MiB", "goal < 1.5 GB"))

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')}")
    print("| measurement | value | notes |\n|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} |")


if __name__ == "__main__":
    main()
