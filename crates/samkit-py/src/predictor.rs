//! `Predictor`: segment-anything's `SamPredictor` over a [`Model`]: `set_image`, then
//! `predict` as many prompts as wanted against its embedding.

use std::sync::Arc;

use numpy::ndarray::{Array1, Array3};
use numpy::PyUntypedArrayMethods;
use numpy::{IntoPyArray, PyArray1, PyArray3, PyReadonlyArray1, PyReadonlyArray2};
use pyo3::prelude::*;
use samkit_engine::{
    upscale_logits, BoxPrompt, Embedding, LowResLogits, Point, PointLabel, Prompt, LOW_RES,
};

use crate::errors;
use crate::image_arg::to_rgb;
use crate::model::Model;

#[pyclass(module = "samkit._samkit")]
pub struct Predictor {
    model: Py<Model>,
    embedding: Option<Arc<Embedding>>,
    /// Milliseconds the last `_predict` spent in the engine (decode and upscale), for
    /// measuring what the Python layers add (`bench/python_overhead.py`).
    last_engine_ms: f64,
}

type Predicted<'py> = (
    Bound<'py, PyAny>,
    Bound<'py, PyArray1<f32>>,
    Bound<'py, PyArray3<f32>>,
);

#[pymethods]
impl Predictor {
    #[new]
    fn new(model: Py<Model>) -> Self {
        Predictor {
            model,
            embedding: None,
            last_engine_ms: 0.0,
        }
    }

    /// Embeds `image` (an HxWx3 uint8 array, or a path); `image_format` "RGB" or "BGR".
    /// Returns whether the embedding came from the cache.
    #[pyo3(signature = (image, image_format="RGB"))]
    fn set_image(
        &mut self,
        py: Python<'_>,
        image: &Bound<'_, PyAny>,
        image_format: &str,
    ) -> PyResult<bool> {
        let bgr = match image_format {
            "RGB" => false,
            "BGR" => true,
            other => {
                return Err(errors::value(format!(
                    "image_format must be \"RGB\" or \"BGR\", not {other:?}"
                )))
            }
        };
        let rgb = to_rgb(image, bgr)?;
        let model = self.model.get();
        let (sam, cache) = (model.model.clone(), model.cache.clone());
        let (embedding, hit) = py
            .detach(move || match cache {
                Some(cache) => cache.get_or_embed(&sam, &rgb),
                None => sam.embed(&rgb).map(|e| (e, false)),
            })
            .map_err(errors::engine)?;
        self.embedding = Some(Arc::new(embedding));
        Ok(hit)
    }

    /// Milliseconds the last prediction spent in the engine.
    #[getter]
    fn _last_engine_ms(&self) -> f64 {
        self.last_engine_ms
    }

    /// Forgets the image.
    fn reset_image(&mut self) {
        self.embedding = None;
    }

    /// Whether an image is set.
    #[getter]
    fn is_image_set(&self) -> bool {
        self.embedding.is_some()
    }

    /// `(height, width)` of the image set.
    #[getter]
    fn original_size(&self) -> Option<(u32, u32)> {
        self.embedding
            .as_ref()
            .map(|e| (e.original.height, e.original.width))
    }

    /// The native half of `samkit.Predictor.predict`: float32 `(N, 2)` coordinates, int32
    /// `(N,)` labels, float32 `(4,)` box, float32 `(256, 256)` mask input, all optional.
    #[allow(clippy::too_many_arguments)]
    #[pyo3(signature = (point_coords=None, point_labels=None, box_xyxy=None, mask_input=None,
                        multimask_output=true, return_logits=false))]
    fn _predict<'py>(
        &mut self,
        py: Python<'py>,
        point_coords: Option<PyReadonlyArray2<'py, f32>>,
        point_labels: Option<PyReadonlyArray1<'py, i32>>,
        box_xyxy: Option<PyReadonlyArray1<'py, f32>>,
        mask_input: Option<PyReadonlyArray2<'py, f32>>,
        multimask_output: bool,
        return_logits: bool,
    ) -> PyResult<Predicted<'py>> {
        let Some(embedding) = self.embedding.clone() else {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "no image is set: call set_image(image) first",
            ));
        };
        let prompt = prompt_from(point_coords, point_labels, box_xyxy, mask_input)?;
        let decoder = self.model.get().model.decoder();
        let (h, w) = (
            embedding.original.height as usize,
            embedding.original.width as usize,
        );
        let (logits, scores, low_res, engine_ms) = py
            .detach(move || -> Result<_, PyErr> {
                let start = std::time::Instant::now();
                let decoded = decoder
                    .decode_candidates(&embedding, &prompt)
                    .map_err(errors::engine)?;
                // SAM's predictor: the three multimask outputs, or the single-mask one.
                let wanted: Vec<_> = decoded
                    .candidates
                    .iter()
                    .filter(|c| match c.token {
                        Some(t) => (t > 0) == multimask_output,
                        None => false,
                    })
                    .collect();
                let expected = if multimask_output { 3 } else { 1 };
                if wanted.len() != expected {
                    return Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                        "the {} decoder does not give SAM's {} output(s) of a prompt: load the model with decoder_backend=\"native\"",
                        decoder.backend(),
                        if multimask_output { "three multimask" } else { "single-mask" }
                    )));
                }
                let mut logits = Vec::with_capacity(wanted.len() * h * w);
                let mut low = Vec::with_capacity(wanted.len() * LOW_RES * LOW_RES);
                let mut scores = Vec::with_capacity(wanted.len());
                for c in &wanted {
                    logits.extend(upscale_logits(&c.low_res, embedding.original).data);
                    low.extend_from_slice(&c.low_res.0);
                    scores.push(c.iou);
                }
                Ok((logits, scores, low, start.elapsed().as_secs_f64() * 1e3))
            })?;
        self.last_engine_ms = engine_ms;
        let n = scores.len();
        let masks: Bound<'py, PyAny> = if return_logits {
            Array3::from_shape_vec((n, h, w), logits)
                .map_err(|e| errors::value(e.to_string()))?
                .into_pyarray(py)
                .into_any()
        } else {
            let bools: Vec<bool> = logits.iter().map(|&v| v > 0.0).collect();
            Array3::from_shape_vec((n, h, w), bools)
                .map_err(|e| errors::value(e.to_string()))?
                .into_pyarray(py)
                .into_any()
        };
        let low_res = Array3::from_shape_vec((n, LOW_RES, LOW_RES), low_res)
            .map_err(|e| errors::value(e.to_string()))?
            .into_pyarray(py);
        Ok((masks, Array1::from_vec(scores).into_pyarray(py), low_res))
    }
}

fn prompt_from(
    point_coords: Option<PyReadonlyArray2<'_, f32>>,
    point_labels: Option<PyReadonlyArray1<'_, i32>>,
    box_xyxy: Option<PyReadonlyArray1<'_, f32>>,
    mask_input: Option<PyReadonlyArray2<'_, f32>>,
) -> PyResult<Prompt> {
    let mut prompt = Prompt::default();
    match (point_coords, point_labels) {
        (Some(coords), Some(labels)) => {
            let (coords, labels) = (coords.as_array(), labels.as_array());
            if coords.ncols() != 2 || coords.nrows() != labels.len() {
                return Err(errors::value(format!(
                    "point_coords must be (N, 2) and point_labels (N,): got {:?} and {:?}",
                    coords.shape(),
                    labels.shape()
                )));
            }
            for (xy, &label) in coords.rows().into_iter().zip(labels.iter()) {
                let label = match label {
                    1 => PointLabel::Positive,
                    0 => PointLabel::Negative,
                    other => {
                        return Err(errors::value(format!(
                            "point label {other}: use 1 (foreground) or 0 (background)"
                        )))
                    }
                };
                prompt.points.push(Point {
                    x: xy[0],
                    y: xy[1],
                    label,
                });
            }
        }
        (None, None) => {}
        _ => {
            return Err(errors::value(
                "point_coords and point_labels go together: give both or neither",
            ))
        }
    }
    if let Some(b) = box_xyxy {
        let b = b.as_array();
        if b.len() != 4 {
            return Err(errors::value(format!(
                "box must be 4 numbers x0, y0, x1, y1, got shape {:?}",
                b.shape()
            )));
        }
        prompt.bbox = Some(BoxPrompt {
            x0: b[0],
            y0: b[1],
            x1: b[2],
            y1: b[3],
        });
    }
    if let Some(m) = mask_input {
        if m.shape() != [LOW_RES, LOW_RES] {
            return Err(errors::value(format!(
                "mask_input must be (1, 256, 256) low-resolution logits (low_res_masks of an earlier predict), got {:?}",
                m.shape()
            )));
        }
        let data: Vec<f32> = m.as_array().iter().copied().collect();
        if data.iter().any(|v| !v.is_finite()) {
            return Err(errors::value("mask_input holds NaN or infinite values"));
        }
        prompt.mask_input = Some(LowResLogits(data));
    }
    Ok(prompt)
}
