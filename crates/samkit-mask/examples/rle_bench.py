"""Times pycocotools RLE encode/decode on the masks rle_bench.rs wrote (see that file)."""
import json
import sys
import time

import numpy as np
from pycocotools import mask as mask_utils


def bench(fn, rounds=7, min_time=0.08):
    """Best (lowest) mean time per call over `rounds` rounds of >= min_time each:
    the best round is the least disturbed by other load on the machine."""
    best = float("inf")
    for _ in range(rounds):
        reps, t = 0, 0.0
        start = time.perf_counter()
        while t < min_time:
            fn()
            reps += 1
            t = time.perf_counter() - start
        best = min(best, t / reps)
    return best


def main(manifest_path):
    manifest = json.load(open(manifest_path))
    out = []
    for case in manifest:
        h, w = case["h"], case["w"]
        # Column-major bytes viewed as an (h, w) Fortran-ordered array: what encode() takes.
        m = np.fromfile(case["path"], dtype=np.uint8).reshape(w, h).T
        assert m.flags["F_CONTIGUOUS"]
        rle = mask_utils.encode(m)
        out.append({
            "name": case["name"],
            "encode_s": bench(lambda: mask_utils.encode(m)),
            "decode_s": bench(lambda: mask_utils.decode(rle)),
            "counts": rle["counts"].decode(),
        })
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main(sys.argv[1])
