//! Segment everything (`SamAutomaticMaskGenerator.generate`) and masks for boxes.

use numpy::ndarray::{Array1, Array2, Array3};
use numpy::PyUntypedArrayMethods;
use numpy::{IntoPyArray, PyArray1, PyArray3, PyReadonlyArray2};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};
use samkit_auto::{AutoParams, OutputMode, SamPointDecoder};
use samkit_engine::BoxPrompt;

use crate::errors;
use crate::image_arg::to_rgb;
use crate::model::Model;

/// The native half of `samkit.AutomaticMaskGenerator.generate`: SAM's records, in SAM's
/// order, with SAM's keys and types; with `as_json`, the bytes `samkit auto --format
/// sam-json --output-mode MODE` writes for the image.
#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (model, image, *, points_per_side, points_per_batch, pred_iou_thresh,
                    stability_score_thresh, stability_score_offset, box_nms_thresh,
                    crop_n_layers, crop_nms_thresh, crop_overlap_ratio,
                    crop_n_points_downscale_factor, point_grids, min_mask_region_area,
                    output_mode, as_json=false))]
pub fn generate<'py>(
    py: Python<'py>,
    model: &Model,
    image: &Bound<'py, PyAny>,
    points_per_side: Option<u32>,
    points_per_batch: usize,
    pred_iou_thresh: f64,
    stability_score_thresh: f64,
    stability_score_offset: f64,
    box_nms_thresh: f64,
    crop_n_layers: u32,
    crop_nms_thresh: f64,
    crop_overlap_ratio: f64,
    crop_n_points_downscale_factor: u32,
    point_grids: Option<Vec<Vec<[f64; 2]>>>,
    min_mask_region_area: u64,
    output_mode: &str,
    as_json: bool,
) -> PyResult<Bound<'py, PyAny>> {
    let mode = output_mode_of(output_mode)?;
    let params = AutoParams {
        points_per_side,
        points_per_batch,
        pred_iou_thresh,
        stability_score_thresh,
        stability_score_offset,
        box_nms_thresh,
        crop_n_layers,
        crop_nms_thresh,
        crop_overlap_ratio,
        crop_n_points_downscale_factor,
        point_grids,
        min_mask_region_area,
        // SAM's generator exactly: no tiles (the CLI and the web app tile large images).
        ..AutoParams::default()
    };
    let data = run(py, model, image, params)?;
    if as_json {
        // `samkit auto --format sam-json`'s bytes: the same records, the same serialiser.
        let sam: Vec<samkit_auto::SamRecord> =
            data.records.iter().map(|r| r.to_sam_record(mode)).collect();
        let bytes = serde_json::to_vec(&sam).map_err(|e| errors::value(e.to_string()))?;
        return Ok(pyo3::types::PyBytes::new(py, &bytes).into_any());
    }
    let records = PyList::empty(py);
    for r in &data.records {
        let d = PyDict::new(py);
        let (h, w) = (r.rle.height() as usize, r.rle.width() as usize);
        match mode {
            OutputMode::BinaryMask => {
                let mask = r.rle.decode();
                let bools: Vec<bool> = mask.as_slice().iter().map(|&v| v != 0).collect();
                let array = Array2::from_shape_vec((h, w), bools)
                    .map_err(|e| errors::value(e.to_string()))?;
                d.set_item("segmentation", array.into_pyarray(py))?;
            }
            OutputMode::UncompressedRle => {
                let seg = PyDict::new(py);
                seg.set_item("size", [h, w])?;
                seg.set_item("counts", r.rle.counts().to_vec())?;
                d.set_item("segmentation", seg)?;
            }
            OutputMode::CocoRle => {
                let seg = PyDict::new(py);
                seg.set_item("size", [h, w])?;
                seg.set_item("counts", r.rle.to_compressed())?;
                d.set_item("segmentation", seg)?;
            }
        }
        let rec = r.to_sam_record(OutputMode::UncompressedRle);
        d.set_item("area", rec.area)?;
        d.set_item("bbox", rec.bbox.to_vec())?;
        d.set_item("predicted_iou", rec.predicted_iou)?;
        d.set_item(
            "point_coords",
            rec.point_coords
                .iter()
                .map(|p| p.to_vec())
                .collect::<Vec<_>>(),
        )?;
        d.set_item("stability_score", rec.stability_score)?;
        d.set_item("crop_box", rec.crop_box.to_vec())?;
        records.append(d)?;
    }
    Ok(records.into_any())
}

fn output_mode_of(name: &str) -> PyResult<OutputMode> {
    match name {
        "binary_mask" => Ok(OutputMode::BinaryMask),
        "uncompressed_rle" => Ok(OutputMode::UncompressedRle),
        "coco_rle" => Ok(OutputMode::CocoRle),
        other => Err(errors::value(format!(
            "output_mode {other:?}: use \"binary_mask\", \"uncompressed_rle\" or \"coco_rle\""
        ))),
    }
}

fn run(
    py: Python<'_>,
    model: &Model,
    image: &Bound<'_, PyAny>,
    params: AutoParams,
) -> PyResult<samkit_auto::MaskData> {
    let rgb = to_rgb(image, false)?;
    let (sam, cache) = (model.model.clone(), model.cache.clone());
    py.detach(move || {
        let decoder = SamPointDecoder::new(&sam, cache.as_deref());
        samkit_auto::generate(&decoder, &rgb, &params, |_| {})
    })
    .map_err(errors::auto)
}

type MasksAndScores<'py> = (Bound<'py, PyArray3<bool>>, Bound<'py, PyArray1<f32>>);

/// The native half of `samkit.masks_from_boxes`: float32 `(N, 4)` XYXY boxes in pixels →
/// `(N, H, W)` bool masks (SAM's single-mask output of each box) and `(N,)` scores.
#[pyfunction]
pub fn masks_from_boxes<'py>(
    py: Python<'py>,
    model: &Model,
    image: &Bound<'py, PyAny>,
    boxes: PyReadonlyArray2<'py, f32>,
) -> PyResult<MasksAndScores<'py>> {
    if boxes.shape()[1] != 4 {
        return Err(errors::value(format!(
            "boxes must be (N, 4) x0, y0, x1, y1 in pixels, got shape {:?}",
            boxes.shape()
        )));
    }
    let boxes: Vec<BoxPrompt> = boxes
        .as_array()
        .rows()
        .into_iter()
        .map(|b| BoxPrompt {
            x0: b[0],
            y0: b[1],
            x1: b[2],
            y1: b[3],
        })
        .collect();
    let rgb = to_rgb(image, false)?;
    let (sam, cache) = (model.model.clone(), model.cache.clone());
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    // Checked before the image is encoded: the engine's prompt rules, and no empty box.
    let size = samkit_engine::Size {
        width: rgb.width(),
        height: rgb.height(),
    };
    for b in &boxes {
        let prompt = samkit_engine::Prompt {
            bbox: Some(*b),
            ..Default::default()
        };
        prompt.validate(size).map_err(errors::engine)?;
        if b.x1 <= b.x0 || b.y1 <= b.y0 {
            return Err(errors::value(format!(
                "box ({}, {}, {}, {}) is empty: give x0 < x1 and y0 < y1",
                b.x0, b.y0, b.x1, b.y1
            )));
        }
    }
    let results = py.detach(move || -> PyResult<Vec<(samkit_mask::Mask, f32)>> {
        let embedding = match &cache {
            Some(cache) => cache.get_or_embed(&sam, &rgb).map(|(e, _)| e),
            None => sam.embed(&rgb),
        }
        .map_err(errors::engine)?;
        let decoder = sam.decoder();
        let mut out = Vec::with_capacity(boxes.len());
        // Batches of 64, as SAM's points_per_batch: memory grows with a batch.
        for chunk in boxes.chunks(64) {
            out.extend(
                samkit_auto::boxes::masks_for_boxes(&decoder, &embedding, chunk)
                    .map_err(errors::auto)?,
            );
        }
        Ok(out)
    })?;
    let n = results.len();
    let mut bools = Vec::with_capacity(n * h * w);
    let mut scores = Vec::with_capacity(n);
    for (mask, score) in &results {
        bools.extend(mask.as_slice().iter().map(|&v| v != 0));
        scores.push(*score);
    }
    let masks =
        Array3::from_shape_vec((n, h, w), bools).map_err(|e| errors::value(e.to_string()))?;
    Ok((
        masks.into_pyarray(py),
        Array1::from_vec(scores).into_pyarray(py),
    ))
}
