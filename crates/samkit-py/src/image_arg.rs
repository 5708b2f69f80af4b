//! An image argument: an `H×W×3` uint8 RGB array (any strides) or a path.

use std::path::PathBuf;

use image::RgbImage;
use numpy::{PyReadonlyArray3, PyUntypedArray, PyUntypedArrayMethods};
use pyo3::prelude::*;
use samkit_engine::PixelBudget;

use crate::errors;

/// The image as RGB8: a path is read by the engine's rule (EXIF orientation, 16-bit,
/// grey, alpha), an array is taken as RGB (or BGR when `bgr`).
pub fn to_rgb(image: &Bound<'_, PyAny>, bgr: bool) -> PyResult<RgbImage> {
    if let Ok(path) = image.extract::<PathBuf>() {
        let py = image.py();
        return py
            .detach(|| samkit_engine::load_rgb_within(&path, PixelBudget::default()))
            .map_err(errors::engine);
    }
    let Ok(untyped) = image.cast::<PyUntypedArray>() else {
        return Err(errors::value(format!(
            "image must be an HxWx3 uint8 RGB numpy array or a path, not {}",
            image.get_type().name()?
        )));
    };
    let shape = untyped.shape().to_vec();
    let dtype = untyped.dtype().str()?.to_string();
    let bad = || {
        errors::value(format!(
            "image must be an HxWx3 uint8 array, got dtype {dtype} and shape {shape:?} \
             (convert with numpy: image.astype(np.uint8); a grey image: np.stack([g]*3, -1))"
        ))
    };
    let array: PyReadonlyArray3<u8> = image.extract().map_err(|_| bad())?;
    let view = array.as_array();
    let (h, w, c) = view.dim();
    if c != 3 {
        return Err(bad());
    }
    let (width, height) = match (u32::try_from(w), u32::try_from(h)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(bad()),
    };
    let origin = std::path::Path::new("<array>");
    samkit_engine::check_dimensions(origin, width, height, PixelBudget::default())
        .map_err(errors::engine)?;
    samkit_engine::check_sam_size(origin, width, height).map_err(errors::engine)?;
    let mut data = Vec::with_capacity(h * w * 3);
    for row in view.outer_iter() {
        for px in row.outer_iter() {
            if bgr {
                data.extend([px[2], px[1], px[0]]);
            } else {
                data.extend([px[0], px[1], px[2]]);
            }
        }
    }
    RgbImage::from_raw(width, height, data).ok_or_else(bad)
}
