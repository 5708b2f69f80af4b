"""Per-call overhead of the Python layer of `samkit` over its native call.

`Predictor.predict` (argument checks and numpy conversions in Python, then the native
call) against the native `_predict` with the arrays already converted, alternating
call by call on the same image and prompt, so machine load hits both alike. The
difference of the medians is the Python layer's cost per call; the native call's own
cost over the engine is its time less the engine's, timed in Rust.

    python3 bench/python_overhead.py [--image samples/chelsea.png] [--calls 200]
"""

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
from PIL import Image

import samkit


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--image", default=str(Path(__file__).parents[1] / "samples" / "chelsea.png"))
    ap.add_argument("--calls", type=int, default=200)
    a = ap.parse_args()
    model = samkit.load_model()
    image = np.array(Image.open(a.image).convert("RGB"))
    p = samkit.Predictor(model)
    p.set_image(image)
    h, w = image.shape[:2]
    coords_list = [[w // 2, h // 2], [w // 4, h // 4]]
    labels_list = [1, 0]
    coords = np.array(coords_list, np.float32)
    labels = np.array(labels_list, np.int32)
    wrapped, native, engine = [], [], []
    for i in range(a.calls + 10):
        order = [0, 1] if i % 2 == 0 else [1, 0]
        for which in order:
            t = time.perf_counter()
            if which == 0:
                p.predict(point_coords=coords_list, point_labels=labels_list,
                          multimask_output=False)
            else:
                p._native._predict(coords, labels, None, None, False, False)
            dt = (time.perf_counter() - t) * 1e3
            if i >= 10:
                (wrapped if which == 0 else native).append(dt)
                if which == 1:
                    engine.append(p._native._last_engine_ms)
    mw, mn = statistics.median(wrapped), statistics.median(native)
    me = statistics.median(engine)
    print(f"model {model.id}, image {Path(a.image).name} ({w}x{h}), {a.calls} calls each, "
          f"alternating")
    print(f"Predictor.predict   {mw:8.3f} ms (median)")
    print(f"native _predict     {mn:8.3f} ms (median)")
    print(f"  of which engine   {me:8.3f} ms (decode and upscale, timed in Rust)")
    print(f"Python layer        {mw - mn:8.3f} ms per call (argument checks, conversions)")
    print(f"native layer        {mn - me:8.3f} ms per call (GIL release, arrays out)")
    print(f"all layers          {mw - me:8.3f} ms per call over the engine")


if __name__ == "__main__":
    main()
