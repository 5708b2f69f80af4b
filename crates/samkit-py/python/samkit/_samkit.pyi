"""Type stubs of the native module (see samkit/__init__.py for the documented API)."""

from os import PathLike
from typing import Any, Dict, List, Optional, Tuple, Union

import numpy as np

ImageLike = Union[np.ndarray, str, PathLike]

class Model:
    @property
    def id(self) -> str: ...
    @property
    def encoder(self) -> Dict[str, Optional[str]]: ...
    @property
    def decoder(self) -> str: ...
    @property
    def notices(self) -> List[str]: ...

def load_model(
    name: Optional[str] = None,
    *,
    encoder: Optional[Union[str, PathLike]] = None,
    decoder: Optional[Union[str, PathLike]] = None,
    threads: int = 1,
    encoder_backend: str = "auto",
    precision: str = "auto",
    decoder_backend: str = "native",
    ort_lib: Optional[Union[str, PathLike]] = None,
    openvino_lib: Optional[Union[str, PathLike]] = None,
    cache: bool = True,
) -> Model: ...

class Predictor:
    def __init__(self, model: Model) -> None: ...
    def set_image(self, image: ImageLike, image_format: str = "RGB") -> bool: ...
    def reset_image(self) -> None: ...
    @property
    def is_image_set(self) -> bool: ...
    @property
    def original_size(self) -> Optional[Tuple[int, int]]: ...
    def _predict(
        self,
        point_coords: Optional[np.ndarray] = None,
        point_labels: Optional[np.ndarray] = None,
        box_xyxy: Optional[np.ndarray] = None,
        mask_input: Optional[np.ndarray] = None,
        multimask_output: bool = True,
        return_logits: bool = False,
    ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]: ...

def generate(model: Model, image: ImageLike, **params: Any) -> List[Dict[str, Any]]: ...
def masks_from_boxes(
    model: Model, image: ImageLike, boxes: np.ndarray
) -> Tuple[np.ndarray, np.ndarray]: ...
def rle_encode(mask: np.ndarray) -> Dict[str, Any]: ...
def rle_decode(rle: Dict[str, Any]) -> np.ndarray: ...
def export_project(
    project: str,
    out: str,
    to: str = "coco",
    status: Optional[str] = None,
    db: Optional[str] = None,
    include_missing: bool = True,
) -> Dict[str, Any]: ...
def convert(
    input: str,
    out: str,
    to: str,
    images: Optional[str] = None,
    skip_invalid: bool = False,
    mask_format: str = "rle",
    tolerance: float = 0.5,
) -> Dict[str, Any]: ...
