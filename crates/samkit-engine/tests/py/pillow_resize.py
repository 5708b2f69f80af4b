"""Resizes images the way segment-anything does (Pillow bilinear to the
ResizeLongestSide size) and writes raw RGB bytes, for the Rust parity test.

usage: pillow_resize.py OUT_DIR IMAGE...
"""
import sys
from pathlib import Path

from PIL import Image

out = Path(sys.argv[1])
for p in sys.argv[2:]:
    im = Image.open(p).convert("RGB")
    w, h = im.size
    s = 1024 / max(w, h)
    size = (int(w * s + 0.5), int(h * s + 0.5))
    r = im.resize(size, Image.BILINEAR)
    (out / (Path(p).stem + ".rgb")).write_bytes(r.tobytes())
