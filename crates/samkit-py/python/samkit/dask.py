"""Segment everything and masks for boxes over a Dask cluster (``dask.distributed``).

Each worker loads the model once (a worker plugin) and takes one image per task; the
outputs are written per image exactly as ``samkit auto`` writes them (the same bytes), so a
job can be split, resumed and checked against a single-process run. A failing image is
reported in its result and does not stop the others. Progress shows in Dask's dashboard
(one ``samkit-auto-*`` task per image) and in the returned futures.

    from distributed import Client, LocalCluster
    import samkit.dask
    client = Client(LocalCluster(n_workers=2, threads_per_worker=1))
    futures = samkit.dask.auto_masks(["photos/"], "masks/", client=client, points_per_side=32)
    results = client.gather(futures)   # one dict per image: image, output, masks, error, ...

Outputs are written with ``fsspec`` when ``out`` is a URL (``s3://…``, ``gcs://…``) and to
the local (or shared) filesystem otherwise; the images are read from paths every worker
can open.
"""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Union

from distributed import Client, WorkerPlugin, get_client, get_worker

import samkit

__all__ = ["auto_masks", "masks_from_boxes", "plan", "ModelPlugin"]

IMAGE_EXTENSIONS = ("png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp")
_PLUGIN = "samkit-model"


class ModelPlugin(WorkerPlugin):
    """Loads ``samkit.load_model(**load_kwargs)`` once on each worker."""

    name = _PLUGIN

    def __init__(self, **load_kwargs: Any) -> None:
        self.load_kwargs = load_kwargs
        self.model = None

    def setup(self, worker) -> None:
        self.model = samkit.load_model(**self.load_kwargs)


def _model():
    plugin = get_worker().plugins[_PLUGIN]
    if plugin.model is None:  # a worker that joined before setup ran
        plugin.model = samkit.load_model(**plugin.load_kwargs)
    return plugin.model


def _is_image(path: Path) -> bool:
    return path.suffix[1:].lower() in IMAGE_EXTENSIONS


def _images_under(folder: Path) -> List[Path]:
    found = []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name.encode()):
        if entry.name.startswith("."):
            continue
        path = Path(entry.path)
        if entry.is_dir(follow_symlinks=False):
            found += _images_under(path)
        elif _is_image(path) and path.is_file():
            found.append(path)
    return found


def plan(inputs: Sequence[Union[str, os.PathLike]], out: str, ext: str = "json") -> List[Dict[str, str]]:
    """The jobs of ``samkit auto INPUTS --out OUT``: a file goes to OUT/<stem>.ext, a folder's
    images (recursively, sorted, hidden entries skipped) to OUT/<path in the folder>.ext."""
    jobs = []
    join = (lambda rel: out.rstrip("/") + "/" + rel) if "://" in out else (
        lambda rel: str(Path(out) / rel))
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            for image in _images_under(path):
                rel = image.relative_to(path)
                jobs.append({"image": str(image), "name": str(rel),
                             "output": join(str(rel.with_suffix("." + ext)))})
        elif path.is_file():
            jobs.append({"image": str(path), "name": path.name,
                         "output": join(path.stem + "." + ext)})
        else:
            raise FileNotFoundError(f"input {path} does not exist")
    outputs = {}
    for job in jobs:
        if job["output"] in outputs:
            raise ValueError(f"{outputs[job['output']]} and {job['image']} would both be "
                             f"written to {job['output']}: give them separate runs")
        outputs[job["output"]] = job["image"]
    return jobs


def _write(output: str, data: bytes) -> None:
    if "://" in output:
        import fsspec

        with fsspec.open(output, "wb") as f:
            f.write(data)
        return
    path = Path(output)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)  # atomic: a cut job leaves no half-written output


def _complete(output: str) -> bool:
    import json

    try:
        if "://" in output:
            import fsspec

            with fsspec.open(output, "rb") as f:
                return isinstance(json.loads(f.read()), list)
        return isinstance(json.loads(Path(output).read_bytes()), list)
    except Exception:
        return False


def _auto_one(job: Dict[str, str], params: Dict[str, Any], force: bool) -> Dict[str, Any]:
    result: Dict[str, Any] = {**job, "masks": None, "seconds": 0.0, "skipped": False,
                              "error": None, "worker": get_worker().address}
    if not force and _complete(job["output"]):
        result["skipped"] = True
        return result
    start = time.perf_counter()
    try:
        data = samkit._samkit.generate(_model(), job["image"], as_json=True, **params)
        _write(job["output"], data)
        result["masks"] = data.count(b'"segmentation"')
    except BaseException as e:  # reported per image (a Rust panic too); the others go on
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        result["error"] = f"{type(e).__name__}: {e}"
    result["seconds"] = time.perf_counter() - start
    return result


def _client(client: Optional[Client], load_kwargs: Dict[str, Any]) -> Client:
    client = client or get_client()
    client.register_plugin(ModelPlugin(**load_kwargs), name=_PLUGIN)
    return client


def auto_masks(
    inputs: Union[str, os.PathLike, Sequence[Union[str, os.PathLike]]],
    out: str,
    client: Optional[Client] = None,
    *,
    force: bool = False,
    output_mode: str = "coco_rle",
    load_model: Optional[Dict[str, Any]] = None,
    **generator_params: Any,
) -> list:
    """Segment everything in ``inputs`` (images and folders) on the cluster, one task per
    image, each writing OUT/<name>.json as ``samkit auto --format sam-json`` does.

    ``generator_params`` are ``AutomaticMaskGenerator``'s (``points_per_side=32``, ...);
    ``load_model`` the keyword arguments of ``samkit.load_model`` on each worker. An image
    whose output is already complete is skipped unless ``force``. Returns one future per
    image; each resolves to ``{"image", "name", "output", "masks", "seconds", "skipped",
    "error", "worker"}`` (``error`` is None or the message; it never raises).
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    generator = samkit.AutomaticMaskGenerator(None, output_mode=output_mode, **generator_params)
    params = generator._params
    client = _client(client, load_model or {})
    jobs = plan(inputs, str(out), "json")
    # One key per image and call: Dask would hand back a held earlier result for a reused key.
    run = uuid.uuid4().hex[:8]
    return [
        client.submit(_auto_one, job, params, force, key=f"samkit-auto-{job['name']}-{run}",
                      pure=False)
        for job in jobs
    ]


def _boxes_one(image: str, boxes: Any) -> Dict[str, Any]:
    result: Dict[str, Any] = {"image": image, "masks": None, "scores": None, "error": None}
    try:
        masks, scores = samkit.masks_from_boxes(_model(), image, boxes)
        result["masks"] = [samkit.rle.encode(m) for m in masks]
        result["scores"] = [float(s) for s in scores]
    except BaseException as e:  # reported per image (a Rust panic too); the others go on
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        result["error"] = f"{type(e).__name__}: {e}"
    return result


def masks_from_boxes(
    items: Sequence[tuple],
    client: Optional[Client] = None,
    *,
    load_model: Optional[Dict[str, Any]] = None,
) -> list:
    """SAM's mask inside each box, one task per image: ``items`` is ``[(image_path,
    boxes), ...]`` with boxes (N, 4) XYXY pixels. Returns one future per image resolving to
    ``{"image", "masks" (COCO RLE dicts), "scores", "error"}``."""
    client = _client(client, load_model or {})
    run = uuid.uuid4().hex[:8]
    return [
        client.submit(_boxes_one, str(image), boxes, key=f"samkit-boxes-{i}-{run}", pure=False)
        for i, (image, boxes) in enumerate(items)
    ]
