#!/usr/bin/env python3
"""Encoder and decoder latency: samkit (Rust, `ort`) against onnxruntime-python, on the
same model files, the same image and the same machine, in one run.

    python3 bench/engine_vs_python.py [--runs 10] [--image samples/chelsea.png]

Needs `pip install -r requirements-test.txt` and a built `target/release/samkit`
(`cargo build --release -p samkit-cli`). Both sides use the files `samkit setup`
cached. Prints a Markdown table of medians and samkit/python ratios (< 1: samkit faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def samkit(bin_path, *args):
    out = subprocess.run([str(bin_path), *args], check=True, capture_output=True, text=True)
    return out.stdout


def samples_ms(fn, warmup, runs):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1e3)
    return times


def python_side(encoder, decoder, ort_lib_version, image, threads, warmup, runs):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    enc = ort.InferenceSession(str(encoder), so, providers=["CPUExecutionProvider"])
    dec = ort.InferenceSession(str(decoder), so, providers=["CPUExecutionProvider"])
    im = Image.open(image).convert("RGB")
    w, h = im.size
    s = 1024 / max(w, h)
    nw, nh = int(w * s + 0.5), int(h * s + 0.5)
    x = np.asarray(im.resize((nw, nh), Image.BILINEAR), dtype=np.float32)
    x = (x - np.array([123.675, 116.28, 103.53], np.float32)) / np.array([58.395, 57.12, 57.375], np.float32)
    inp = np.zeros((1, 3, 1024, 1024), np.float32)
    inp[0, :, :nh, :nw] = x.transpose(2, 0, 1)
    in_name = enc.get_inputs()[0].name
    e_ms = samples_ms(lambda: enc.run(None, {in_name: inp}), warmup, runs)
    emb = enc.run(None, {in_name: inp})[0]
    feeds = {
        "image_embeddings": emb,
        "point_coords": np.array([[[w // 2 * nw / w, h // 2 * nh / h], [0, 0]]], np.float32),
        "point_labels": np.array([[1, -1]], np.float32),
        "mask_input": np.zeros((1, 1, 256, 256), np.float32),
        "has_mask_input": np.zeros(1, np.float32),
        "orig_im_size": np.array([h, w], np.float32),
    }
    d_ms = samples_ms(lambda: dec.run(None, feeds), warmup, max(runs, 10) * 2)
    return e_ms, d_ms


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--image", default=str(ROOT / "samples/chelsea.png"))
    ap.add_argument("--bin", default=str(ROOT / "target/release/samkit"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--blocks", type=int, default=3,
                    help="alternate python and samkit this many times per thread count, so a "
                         "change in machine load hits both sides alike")
    a = ap.parse_args()
    setup = json.loads(samkit(a.bin, "setup", "--json"))
    encoder, decoder = setup["encoder"], setup["decoder"]
    rows = []
    for t in [int(v) for v in a.threads.split(",")]:
        py_e, py_d, sk_e, sk_d, sk_p = [], [], [], [], []
        for _ in range(a.blocks):
            e, d = python_side(encoder, decoder, None, a.image, t, a.warmup, a.runs)
            py_e += e
            py_d += d
            # Same runtime on both sides: samkit's encoder on ONNX Runtime, not `auto`.
            r = json.loads(samkit(a.bin, "bench", "--json", "--threads", str(t), "--runs", str(a.runs),
                                  "--warmup", str(a.warmup), "--image", a.image,
                                  "--encoder-backend", "onnxruntime"))
            sk_e += r["samples_ms"]["encoder"]
            sk_d += r["samples_ms"]["decoder"]
            sk_p += r["samples_ms"]["preprocess"]
        med = statistics.median
        rows.append((t, "encoder", med(sk_e), med(py_e)))
        rows.append((t, "decoder", med(sk_d), med(py_d)))
        rows.append((t, "preprocess (samkit only)", med(sk_p), float("nan")))
    print(f"onnxruntime-python {ort.__version__}, image {Path(a.image).name}, median of "
          f"{a.blocks}x{a.runs} runs (decoder {a.blocks}x{max(a.runs, 10) * 2}), each block after "
          f"{a.warmup} warm-up, sides alternating, {os.cpu_count()} CPUs")
    print()
    print("| threads | stage | samkit (ms) | onnxruntime-python (ms) | ratio samkit/python |")
    print("|---|---|---|---|---|")
    for t, stage, ours, theirs in rows:
        ratio = ours / theirs if theirs == theirs else float("nan")
        theirs_s = f"{theirs:.1f}" if theirs == theirs else "–"
        ratio_s = f"{ratio:.3f}" if ratio == ratio else "–"
        print(f"| {t} | {stage} | {ours:.1f} | {theirs_s} | {ratio_s} |")


if __name__ == "__main__":
    sys.exit(main())
