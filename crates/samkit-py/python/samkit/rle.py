"""COCO run-length encoding, bit-exact with pycocotools (``pycocotools.mask.decode``
reads what ``encode`` writes, and ``decode`` reads pycocotools' dicts)."""

from __future__ import annotations

from typing import Any, Dict

import numpy as np

from ._samkit import rle_decode as _decode
from ._samkit import rle_encode as _encode

__all__ = ["encode", "decode", "area"]


def encode(mask: Any) -> Dict[str, Any]:
    """(H, W) mask (bool or 0/1 integers) → ``{"size": [H, W], "counts": str}``."""
    array = np.asarray(mask)
    if array.ndim != 2:
        raise ValueError(f"mask must be (H, W), got shape {array.shape}")
    if array.dtype != np.bool_:
        if not np.isin(array, (0, 1)).all():
            raise ValueError("mask must be boolean or 0/1")
        array = array.astype(np.bool_)
    return _encode(np.require(array, requirements=["C", "A"]))


def decode(rle: Dict[str, Any]) -> np.ndarray:
    """``{"size": [H, W], "counts": str | bytes | list}`` → (H, W) bool mask."""
    if not isinstance(rle, dict):
        raise ValueError("rle must be a dict with size and counts")
    return _decode(rle)


def area(rle: Dict[str, Any]) -> int:
    """Pixels in the mask."""
    return int(decode(rle).sum())
