"""Images per second of `samkit.dask.auto_masks` on a 2-worker LocalCluster against one
process running `AutomaticMaskGenerator` over the same images, in the same script.

The embedding cache is off on both sides so every image is encoded. Each side runs once
per round, the order alternating; the figures are the medians over rounds.

    python3 bench/dask_throughput.py [--copies 2] [--points-per-side 16] [--rounds 2]
"""

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import distributed

import samkit
import samkit.dask

SAMPLES = Path(__file__).resolve().parents[1] / "samples"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--copies", type=int, default=2, help="copies of the 4 sample photos")
    ap.add_argument("--points-per-side", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp())
    images = []
    for k in range(a.copies):
        for src in sorted(SAMPLES.glob("*.png")) + sorted(SAMPLES.glob("*.jpg")):
            dst = tmp / "in" / f"{k}-{src.name}"
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(src, dst)
            images.append(dst)
    model = samkit.load_model(cache=False)
    gen = samkit.AutomaticMaskGenerator(model, points_per_side=a.points_per_side,
                                        output_mode="coco_rle")
    cluster = distributed.LocalCluster(n_workers=a.workers, threads_per_worker=1,
                                       processes=True, dashboard_address=None,
                                       silence_logs=40)
    client = distributed.Client(cluster)
    # Warm-up: each worker loads the model (not timed, as the single process's load_model).
    client.gather(samkit.dask.auto_masks(images[:a.workers], str(tmp / "warm"), client=client,
                                         points_per_side=4, load_model={"cache": False}))
    single, dask = [], []
    for r in range(a.rounds):
        for side in (("single", "dask") if r % 2 == 0 else ("dask", "single")):
            t = time.perf_counter()
            if side == "single":
                for image in images:
                    gen.generate(str(image))
                single.append(len(images) / (time.perf_counter() - t))
            else:
                results = client.gather(samkit.dask.auto_masks(
                    tmp / "in", str(tmp / f"out{r}"), client=client, force=True,
                    points_per_side=a.points_per_side, load_model={"cache": False}))
                assert all(x["error"] is None for x in results), results
                dask.append(len(images) / (time.perf_counter() - t))
    s, d = statistics.median(single), statistics.median(dask)
    print(f"{len(images)} images, points_per_side {a.points_per_side}, {a.rounds} rounds, "
          f"model {model.id}")
    print(f"one process             {s:6.3f} images/s")
    print(f"LocalCluster {a.workers} workers  {d:6.3f} images/s ({d / s:.2f}x)")
    client.close()
    cluster.close()
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
