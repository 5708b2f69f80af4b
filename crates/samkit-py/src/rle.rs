//! COCO RLE, bit-exact with pycocotools (`samkit-mask`).

use numpy::ndarray::Array2;
use numpy::{IntoPyArray, PyArray2, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};
use samkit_mask::{CocoRle, Mask, PixelBudget};

use crate::errors;

/// `(H, W)` bool/uint8 mask → `{"size": [H, W], "counts": str}` (pycocotools' compressed
/// counts, as a str like SAM's `coco_rle`).
#[pyfunction]
pub fn rle_encode<'py>(
    py: Python<'py>,
    mask: PyReadonlyArray2<'py, bool>,
) -> PyResult<Bound<'py, PyDict>> {
    let (h, w) = (mask.shape()[0], mask.shape()[1]);
    let (height, width) = match (u32::try_from(h), u32::try_from(w)) {
        (Ok(h), Ok(w)) => (h, w),
        _ => return Err(errors::value("mask is too large for COCO RLE")),
    };
    let bools: Vec<bool> = mask.as_array().iter().copied().collect();
    let mask = Mask::from_bools(width, height, &bools).map_err(|e| errors::value(e.to_string()))?;
    let rle = CocoRle::encode(&mask);
    let d = PyDict::new(py);
    d.set_item("size", [h, w])?;
    d.set_item("counts", rle.to_compressed())?;
    Ok(d)
}

/// `{"size": [H, W], "counts": str | bytes | list}` → `(H, W)` bool mask. The size is
/// checked against the pixel budget before anything is allocated.
#[pyfunction]
pub fn rle_decode<'py>(
    py: Python<'py>,
    rle: &Bound<'py, PyDict>,
) -> PyResult<Bound<'py, PyArray2<bool>>> {
    let bad = |why: &str| {
        errors::value(format!(
            "not a COCO RLE dict ({why}): expected {{\"size\": [h, w], \"counts\": ...}}"
        ))
    };
    let size: [u32; 2] = rle
        .get_item("size")?
        .ok_or_else(|| bad("no size"))?
        .extract()
        .map_err(|_| bad("size is not [h, w]"))?;
    let counts = rle.get_item("counts")?.ok_or_else(|| bad("no counts"))?;
    let [h, w] = size;
    let parsed = if let Ok(s) = counts.extract::<String>() {
        CocoRle::from_compressed(h, w, &s)
    } else if let Ok(b) = counts.cast::<PyBytes>() {
        let s = std::str::from_utf8(b.as_bytes()).map_err(|_| bad("counts bytes are not ASCII"))?;
        CocoRle::from_compressed(h, w, s)
    } else if let Ok(runs) = counts.extract::<Vec<u32>>() {
        CocoRle::from_counts(h, w, runs)
    } else {
        return Err(bad("counts is neither a string nor a list of run lengths"));
    };
    let rle = parsed.map_err(|e| errors::value(e.to_string()))?;
    let mask = rle
        .decode_within(PixelBudget::default())
        .map_err(|e| errors::value(e.to_string()))?;
    let bools: Vec<bool> = mask.as_slice().iter().map(|&v| v != 0).collect();
    Ok(Array2::from_shape_vec((h as usize, w as usize), bools)
        .map_err(|e| errors::value(e.to_string()))?
        .into_pyarray(py))
}
