"""samkit.dask on a real LocalCluster (2 worker processes): a folder's outputs are
byte-identical to `samkit auto`'s, a bad image is reported without stopping the others,
and a second run skips what is complete."""

import filecmp
import shutil

import pytest

distributed = pytest.importorskip("distributed")

import samkit.dask  # noqa: E402
from conftest import SAMPLES, run_cli  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


def test_a_folder_on_two_workers_equals_samkit_auto(client, samkit_bin, tmp_path):
    photos = tmp_path / "photos"
    (photos / "more").mkdir(parents=True)
    shutil.copy(SAMPLES / "chelsea.png", photos)
    shutil.copy(SAMPLES / "coffee.png", photos / "more")
    shutil.copy(SAMPLES / "rocket.jpg", photos)
    (photos / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n not really")

    futures = samkit.dask.auto_masks(photos, str(tmp_path / "dask"), client=client,
                                     points_per_side=8)
    results = {r["name"]: r for r in client.gather(futures)}
    assert set(results) == {"broken.png", "chelsea.png", "rocket.jpg", "more/coffee.png"}
    assert results["broken.png"]["error"] and "broken.png" in results["broken.png"]["error"]
    done = [r for r in results.values() if r["error"] is None]
    assert len(done) == 3 and all(r["masks"] > 0 for r in done)
    assert len({r["worker"] for r in results.values()}) == 2, "both workers took images"

    cli = tmp_path / "cli"
    out = __import__("subprocess").run(
        [samkit_bin, "auto", str(photos), "--out", str(cli), "--format", "sam-json",
         "--points-per-side", "8"], capture_output=True, text=True)
    assert out.returncode == 1 and "broken.png" in out.stderr, out.stderr  # the bad image
    for name in ("chelsea.json", "rocket.json", "more/coffee.json"):
        assert filecmp.cmp(tmp_path / "dask" / name, cli / name, shallow=False), name

    again = client.gather(samkit.dask.auto_masks([photos], str(tmp_path / "dask"),
                                                 client=client, points_per_side=8))
    assert sorted(r["name"] for r in again if r["skipped"]) == [
        "chelsea.png", "more/coffee.png", "rocket.jpg"]


def test_masks_from_boxes_on_the_cluster_equal_the_local_call(client, model):
    import numpy as np

    boxes = np.array([[150, 40, 330, 290]], np.float32)
    items = [(SAMPLES / "chelsea.png", boxes), (SAMPLES / "missing.png", boxes)]
    results = client.gather(samkit.dask.masks_from_boxes(items, client=client))
    masks, scores = samkit.masks_from_boxes(model, str(SAMPLES / "chelsea.png"), boxes)
    assert samkit.rle.decode(results[0]["masks"][0]).tolist() == masks[0].tolist()
    assert abs(results[0]["scores"][0] - float(scores[0])) <= 1e-6
    assert results[1]["error"].startswith("FileNotFoundError")


def test_the_plan_mirrors_samkit_auto(tmp_path):
    (tmp_path / "a" / ".hidden").mkdir(parents=True)
    (tmp_path / "a" / "x.PNG").write_bytes(b"")
    (tmp_path / "a" / ".hidden" / "y.png").write_bytes(b"")
    (tmp_path / "a" / "notes.txt").write_bytes(b"")
    (tmp_path / "b.jpg").write_bytes(b"")
    (tmp_path / "b.png").write_bytes(b"")
    jobs = samkit.dask.plan([tmp_path / "a", tmp_path / "b.jpg"], str(tmp_path / "out"))
    assert [(j["name"], j["output"]) for j in jobs] == [
        ("x.PNG", str(tmp_path / "out" / "x.json")),
        ("b.jpg", str(tmp_path / "out" / "b.json")),
    ]
    with pytest.raises(ValueError, match="both be written"):
        samkit.dask.plan([tmp_path / "b.jpg", tmp_path / "b.png"], str(tmp_path / "out"))
    with pytest.raises(FileNotFoundError):
        samkit.dask.plan([tmp_path / "nope"], str(tmp_path / "out"))
