"""samkit: Segment Anything on a laptop CPU.

segment-anything's API over the samkit engine (Rust; the encoder on ONNX Runtime or
OpenVINO, the decoder native), with the model fetched and verified like the command line
does it::

    import samkit
    model = samkit.load_model()
    p = samkit.Predictor(model)
    p.set_image(image)                       # HxWx3 uint8 RGB array, or a path
    masks, scores, low_res = p.predict(point_coords=[[500, 375]], point_labels=[1])
    records = samkit.AutomaticMaskGenerator(model).generate(image)

Differences from segment-anything are listed in docs/python.md.
"""

from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import numpy as np

from . import rle
from ._samkit import Model, load_model
from ._samkit import Predictor as _NativePredictor
from ._samkit import convert as _convert
from ._samkit import export_project as _export_project
from ._samkit import generate as _generate
from ._samkit import masks_from_boxes as _masks_from_boxes

__all__ = [
    "AutomaticMaskGenerator",
    "Model",
    "Predictor",
    "convert",
    "export",
    "load_model",
    "masks_from_boxes",
    "rle",
]


def _float_array(value: Any, name: str, ndim: int) -> np.ndarray:
    try:
        # Aligned as well as contiguous: an array unpickled from a buffer (Dask) may not be.
        array = np.require(value, dtype=np.float32, requirements=["C", "A"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{name} must be numbers: {e}") from None
    if array.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), got shape {array.shape}")
    return array


class Predictor:
    """segment-anything's ``SamPredictor``: embed an image once, then predict masks for
    as many prompts as wanted. Embeddings are cached on disk like the command line's."""

    def __init__(self, model: Model) -> None:
        if not isinstance(model, Model):
            raise TypeError("Predictor needs a samkit.Model: samkit.load_model()")
        self.model = model
        self._native = _NativePredictor(model)

    def set_image(self, image: Any, image_format: str = "RGB") -> None:
        """Embeds ``image``: an HxWx3 uint8 array (``image_format`` "RGB" or "BGR") or the
        path of an image file (read by samkit's rule: EXIF orientation, 16-bit, grey)."""
        self._native.set_image(image, image_format)

    def reset_image(self) -> None:
        """Forgets the image."""
        self._native.reset_image()

    @property
    def is_image_set(self) -> bool:
        return self._native.is_image_set

    @property
    def original_size(self) -> Optional[Tuple[int, int]]:
        """``(H, W)`` of the image set, or None."""
        return self._native.original_size

    def predict(
        self,
        point_coords: Optional[Any] = None,
        point_labels: Optional[Any] = None,
        box: Optional[Any] = None,
        mask_input: Optional[Any] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks for a prompt, as ``SamPredictor.predict``.

        point_coords: (N, 2) x, y in pixels of the original image. point_labels: (N,)
        1 = foreground, 0 = background. box: (4,) x0, y0, x1, y1. mask_input: (1, 256,
        256) low-resolution logits, usually ``low_res`` of an earlier call.
        multimask_output: the three multimask outputs (True) or the single-mask one.
        return_logits: the logits instead of masks thresholded at 0.

        Returns masks (C, H, W) bool (float32 with return_logits), scores (C,) float32,
        the predicted IoU of each, and low_res (C, 256, 256) float32 logits.
        """
        coords = labels = None
        if point_coords is not None or point_labels is not None:
            if point_coords is None or point_labels is None:
                raise ValueError("point_labels must be supplied with point_coords")
            coords = _float_array(point_coords, "point_coords", 2)
            try:
                raw_labels = np.asarray(point_labels)
                labels = np.require(raw_labels, dtype=np.int32, requirements=["C", "A"])
            except (TypeError, ValueError) as e:
                raise ValueError(f"point_labels must be integers: {e}") from None
            if labels.ndim != 1 or not np.array_equal(labels, raw_labels):
                raise ValueError("point_labels must be (N,) integers 1 or 0")
        box_array = None
        if box is not None:
            box_array = _float_array(box, "box", 1)
        mask_array = None
        if mask_input is not None:
            mask_array = np.asarray(mask_input, dtype=np.float32)
            if mask_array.ndim == 3 and mask_array.shape[0] == 1:
                mask_array = mask_array[0]
            mask_array = np.require(mask_array, requirements=["C", "A"])
            if mask_array.ndim != 2:
                raise ValueError(
                    f"mask_input must be (1, 256, 256), got shape {np.shape(mask_input)}"
                )
        return self._native._predict(
            coords, labels, box_array, mask_array, bool(multimask_output), bool(return_logits)
        )


class AutomaticMaskGenerator:
    """segment-anything's ``SamAutomaticMaskGenerator``: every object of an image from a
    grid of single-point prompts, with its parameters and defaults."""

    def __init__(
        self,
        model: Model,
        points_per_side: Optional[int] = 32,
        points_per_batch: int = 64,
        pred_iou_thresh: float = 0.88,
        stability_score_thresh: float = 0.95,
        stability_score_offset: float = 1.0,
        box_nms_thresh: float = 0.7,
        crop_n_layers: int = 0,
        crop_nms_thresh: float = 0.7,
        crop_overlap_ratio: float = 512 / 1500,
        crop_n_points_downscale_factor: int = 1,
        point_grids: Optional[List[np.ndarray]] = None,
        min_mask_region_area: int = 0,
        output_mode: str = "binary_mask",
    ) -> None:
        if (points_per_side is None) == (point_grids is None):
            raise ValueError("Exactly one of points_per_side or point_grid must be provided.")
        if output_mode not in ("binary_mask", "uncompressed_rle", "coco_rle"):
            raise ValueError(f"Unknown output_mode {output_mode}.")
        self.model = model
        grids = None
        if point_grids is not None:
            grids = [np.asarray(g, dtype=np.float64).reshape(-1, 2).tolist() for g in point_grids]
        self._params: Dict[str, Any] = dict(
            points_per_side=points_per_side,
            points_per_batch=int(points_per_batch),
            pred_iou_thresh=float(pred_iou_thresh),
            stability_score_thresh=float(stability_score_thresh),
            stability_score_offset=float(stability_score_offset),
            box_nms_thresh=float(box_nms_thresh),
            crop_n_layers=int(crop_n_layers),
            crop_nms_thresh=float(crop_nms_thresh),
            crop_overlap_ratio=float(crop_overlap_ratio),
            crop_n_points_downscale_factor=int(crop_n_points_downscale_factor),
            point_grids=grids,
            min_mask_region_area=int(min_mask_region_area),
            output_mode=output_mode,
        )

    def generate(self, image: Any) -> List[Dict[str, Any]]:
        """SAM's records for ``image`` (an HxWx3 uint8 RGB array or a path): dicts with
        ``segmentation``, ``area``, ``bbox`` (XYWH), ``predicted_iou``, ``point_coords``,
        ``stability_score`` and ``crop_box`` (XYWH), in SAM's order."""
        return _generate(self.model, image, **self._params)


def masks_from_boxes(
    model: Model, image: Any, boxes: Sequence[Sequence[float]]
) -> Tuple[np.ndarray, np.ndarray]:
    """SAM's mask inside each box: ``boxes`` (N, 4) x0, y0, x1, y1 in pixels (inside the
    image) → masks (N, H, W) bool and scores (N,) float32, the predicted IoU."""
    array = _float_array(boxes, "boxes", 2)
    if array.shape[0] == 0:
        raise ValueError("boxes is empty: give at least one (N, 4) box")
    return _masks_from_boxes(model, image, array)


PathLike = Union[str, "os.PathLike[str]"]


def export(
    project: PathLike,
    out: PathLike,
    to: str = "coco",
    status: Optional[str] = None,
    db: Optional[str] = None,
    include_missing: bool = True,
) -> Dict[str, Any]:
    """A ``samkit serve`` project's annotations, written as ``samkit export`` writes them.

    project: the folder given to ``samkit serve`` (its image list is brought up to date
    first). out: a .json file for ``to="coco"``/``"coco-polygons"``, else a folder.
    to: coco, coco-polygons, png, npy, yolo, voc, nifti or nifti-instances. status: only images with this
    status (todo, in_progress, done, needs_review). db: the database (a path or a
    ``sqlite:`` URL; default ``PROJECT/.samkit/project.db``). include_missing: also
    images whose file has left the folder (their annotations are kept).

    Returns ``{"format", "images", "instances", "out", "notes"}``. Raises
    ``FileNotFoundError`` for a missing project folder, ``ValueError`` for an unknown
    format or status, ``OSError`` when the output cannot be written.
    """
    return _export_project(
        os.fspath(project), os.fspath(out), to, status, db, bool(include_missing)
    )


def convert(
    input: PathLike,
    out: PathLike,
    to: str,
    images: Optional[PathLike] = None,
    skip_invalid: bool = False,
    mask_format: str = "rle",
    tolerance: float = 0.5,
) -> Dict[str, Any]:
    """Annotation files from one format to another, as ``samkit convert``.

    input: a COCO instances .json file or a YOLO-seg folder (labels/ + classes.txt or
    data.yaml). to: coco, png, numpy, yolo or voc. out: the .json file (COCO) or folder.
    images: the images folder (image sizes for YOLO input, pixels for PNG cut-outs).
    skip_invalid: leave invalid annotations out (listed in ``skipped``) instead of
    stopping at the first. mask_format: how COCO output stores masks, "rle" (exact) or
    "polygon" (simplified with ``tolerance`` pixels, also used for YOLO).

    Returns ``{"images", "instances", "out", "notes", "skipped"}``. Raises
    ``FileNotFoundError`` for a missing input, ``ValueError`` for invalid annotations
    or arguments, ``OSError`` when the output cannot be written.
    """
    return _convert(
        os.fspath(input),
        os.fspath(out),
        to,
        None if images is None else os.fspath(images),
        bool(skip_invalid),
        mask_format,
        float(tolerance),
    )
