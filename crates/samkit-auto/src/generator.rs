//! `SamAutomaticMaskGenerator.generate`: crops, point batches, filters, NMS, small-region
//! postprocessing, records.
//!
//! The stages and their order are the original's. What differs is only *when* work is
//! done, never its result:
//! * SAM upscales a whole batch of masks before filtering; here each of the point's
//!   three multimask outputs is filtered on its predicted IoU first and upscaled only
//!   if it passed, then thresholded, boxed, edge-filtered and compressed right away, so
//!   memory holds one full-size mask at a time (every filter of `_process_batch` looks
//!   at one mask alone, so the kept set and order are the same);
//! * `uncrop_masks` + `mask_to_rle_pytorch` are one pass that never builds the padded
//!   mask (`crops::uncropped_rle`);
//! * `postprocess_small_regions` decodes, cleans and re-encodes one mask at a time.
//!
//! Choices where the original leaves room:
//! * thresholds are compared in float32 (`tensor > python_float` casts the scalar to
//!   the tensor's float32): `iou > (pred_iou_thresh as f32)`,
//!   `stability >= (stability_score_thresh as f32)`, `logits > (0 ± offset) as f32`;
//! * point prompts reach the engine as f32 (its `Prompt`); SAM keeps float64 until the
//!   prompt encoder. The difference is below 1e-5 px;
//! * ties in every NMS follow PyTorch's CPU sort (see [`crate::nms`]);
//! * `point_grids` (explicit grids instead of `points_per_side`) are accepted as in SAM.
//!
//! One addition, off by default: [`TileMode`] replaces the crop layers of a large image by
//! full-resolution tiles (`crops::tile_crop_boxes`, layer 1 after the whole image), run
//! through the same per-crop pipeline and the same NMS across crops.

use std::sync::Arc;

use image::RgbImage;
use samkit_engine::{
    upscale_logits, Embedding, EmbeddingCache, LowResLogits, Point, PointLabel, Prompt, SamDecoder,
    SamModel,
};
use samkit_mask::{remove_small_regions, CocoRle, Mask, RegionMode};

use crate::crops::{
    generate_crop_boxes, is_box_near_crop_edge, tile_crop_boxes, uncrop_box, uncrop_point,
    TileMode, Tiling,
};
use crate::grid::build_all_layer_point_grids;
use crate::mask_data::{mask_to_box, stability_score, MaskData, MaskRecord};
use crate::nms::batched_nms;
use crate::{AutoError, CropBox, Result};

/// `SamAutomaticMaskGenerator`'s parameters, SAM's names and defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoParams {
    /// Points per side of layer 0's grid; `None` when `point_grids` is given.
    pub points_per_side: Option<u32>,
    pub points_per_batch: usize,
    pub pred_iou_thresh: f64,
    pub stability_score_thresh: f64,
    pub stability_score_offset: f64,
    pub box_nms_thresh: f64,
    pub crop_n_layers: u32,
    pub crop_nms_thresh: f64,
    pub crop_overlap_ratio: f64,
    pub crop_n_points_downscale_factor: u32,
    /// Explicit normalised grids, one per crop layer (exclusive with `points_per_side`).
    pub point_grids: Option<Vec<Vec<[f64; 2]>>>,
    pub min_mask_region_area: u64,
    /// Full-resolution tiles as crops (not in SAM; default off). Exclusive with
    /// `crop_n_layers`; tiles use layer 1's point grid.
    pub tiles: TileMode,
    pub tiling: Tiling,
}

impl Default for AutoParams {
    fn default() -> Self {
        AutoParams {
            points_per_side: Some(32),
            points_per_batch: 64,
            pred_iou_thresh: 0.88,
            stability_score_thresh: 0.95,
            stability_score_offset: 1.0,
            box_nms_thresh: 0.7,
            crop_n_layers: 0,
            crop_nms_thresh: 0.7,
            crop_overlap_ratio: 512.0 / 1500.0,
            crop_n_points_downscale_factor: 1,
            point_grids: None,
            min_mask_region_area: 0,
            tiles: TileMode::Off,
            tiling: Tiling::default(),
        }
    }
}

impl AutoParams {
    /// The point grid of every crop layer, after SAM's checks.
    pub fn point_grids(&self) -> Result<Vec<Vec<[f64; 2]>>> {
        if self.points_per_batch == 0 {
            return Err(AutoError::Param(
                "points per batch is 0: give at least 1".into(),
            ));
        }
        for (name, v) in [
            ("pred IoU threshold", self.pred_iou_thresh),
            ("stability score threshold", self.stability_score_thresh),
            ("stability score offset", self.stability_score_offset),
            ("box NMS threshold", self.box_nms_thresh),
            ("crop NMS threshold", self.crop_nms_thresh),
        ] {
            if !v.is_finite() {
                return Err(AutoError::Param(format!(
                    "{name} is {v}: give a finite number"
                )));
            }
        }
        let tiled = self.tiles != TileMode::Off;
        if tiled && self.crop_n_layers > 0 {
            return Err(AutoError::Param(
                "tiles and crop layers do not go together: give one of them".into(),
            ));
        }
        let layers = if tiled { 1 } else { self.crop_n_layers };
        let mut grids = match (&self.points_per_side, &self.point_grids) {
            (Some(n), None) => {
                build_all_layer_point_grids(*n, layers, self.crop_n_points_downscale_factor)?
            }
            (None, Some(g)) => g.clone(),
            _ => {
                return Err(AutoError::Param(
                    "give exactly one of points per side and explicit point grids".into(),
                ))
            }
        };
        if tiled && grids.len() == 1 {
            // One explicit grid: the tiles use it too.
            grids.push(grids[0].clone());
        }
        if grids.len() <= layers as usize {
            return Err(AutoError::Param(format!(
                "{} point grids for {} crop layers: give one per layer, layer 0 included",
                grids.len(),
                self.crop_n_layers
            )));
        }
        Ok(grids)
    }
}

/// One decoder output for a point, before upscaling.
#[derive(Debug, Clone)]
pub struct Proposal<L> {
    pub iou: f32,
    pub low_res: L,
}

/// What the generator needs from SAM (`SamPredictor` in the original).
pub trait PointDecoder {
    type Embedding;
    type LowRes;
    /// `set_image` of a crop (the whole image for layer 0, then `whole_image` is true):
    /// the crop is preprocessed like an image of its own.
    fn embed(&self, crop: &RgbImage, whole_image: bool) -> Result<Self::Embedding>;
    /// SAM's three multimask outputs (tokens 1, 2, 3, in that order) of each point, one
    /// positive click each, points in the crop's pixel frame.
    fn decode_multimask(
        &self,
        embedding: &Self::Embedding,
        points: &[[f64; 2]],
    ) -> Result<Vec<[Proposal<Self::LowRes>; 3]>>;
    /// SAM's `postprocess_masks` of one output: logits at the crop's size, row-major.
    fn upscale(&self, embedding: &Self::Embedding, low_res: &Self::LowRes) -> Vec<f32>;
}

/// The real decoder: the engine's native batched decoder, the encoder of `model`, and
/// optionally the embedding cache for the whole image (crops are not cached).
pub struct SamPointDecoder<'a> {
    model: &'a SamModel,
    decoder: Arc<SamDecoder>,
    cache: Option<&'a EmbeddingCache>,
}

impl<'a> SamPointDecoder<'a> {
    pub fn new(model: &'a SamModel, cache: Option<&'a EmbeddingCache>) -> Self {
        SamPointDecoder {
            model,
            decoder: model.decoder(),
            cache,
        }
    }
}

impl PointDecoder for SamPointDecoder<'_> {
    type Embedding = Embedding;
    type LowRes = LowResLogits;

    fn embed(&self, crop: &RgbImage, whole_image: bool) -> Result<Embedding> {
        match self.cache {
            Some(cache) if whole_image => Ok(cache.get_or_embed(self.model, crop)?.0),
            _ => Ok(self.model.embed(crop)?),
        }
    }

    fn decode_multimask(
        &self,
        embedding: &Embedding,
        points: &[[f64; 2]],
    ) -> Result<Vec<[Proposal<LowResLogits>; 3]>> {
        multimask_outputs(&self.decoder, embedding, points)
    }

    fn upscale(&self, embedding: &Embedding, low_res: &LowResLogits) -> Vec<f32> {
        upscale_logits(low_res, embedding.original).data
    }
}

/// SAM's three multimask outputs of each point (one positive click each, in `decoder`'s
/// batches): what [`PointDecoder::decode_multimask`] needs from a [`SamDecoder`]. Only
/// the native backend gives them; the ONNX one is refused with a message saying so.
pub fn multimask_outputs(
    decoder: &SamDecoder,
    embedding: &Embedding,
    points: &[[f64; 2]],
) -> Result<Vec<[Proposal<LowResLogits>; 3]>> {
    let prompts: Vec<Prompt> = points
        .iter()
        .map(|p| Prompt {
            points: vec![Point {
                x: p[0] as f32,
                y: p[1] as f32,
                label: PointLabel::Positive,
            }],
            ..Default::default()
        })
        .collect();
    let decoded = decoder.decode_batch(embedding, &prompts)?;
    decoded
        .into_iter()
        .map(|d| {
            let mut outs = d
                .candidates
                .into_iter()
                .filter(|c| matches!(c.token, Some(1..=3)));
            let mut next = || {
                outs.next().map(|c| Proposal {
                    iou: c.iou,
                    low_res: c.low_res,
                })
            };
            match (next(), next(), next()) {
                (Some(a), Some(b), Some(c)) => Ok([a, b, c]),
                _ => Err(AutoError::Decoder(format!(
                    "segment everything needs the decoder's three multimask outputs of each point; \
                     the {} decoder does not give them: use --decoder-backend native",
                    decoder.backend()
                ))),
            }
        })
        .collect()
}

/// Where the generator is, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Starting crop `crop` of `crops` (an embedding follows).
    Crop { crop: usize, crops: usize },
    /// `done` of `total` points decoded, over all crops.
    Points { done: usize, total: usize },
}

/// `SamAutomaticMaskGenerator(model, **params).generate(image)` before the records are
/// written: the kept masks in SAM's order. `progress` is told each crop and batch.
pub fn generate<D: PointDecoder>(
    decoder: &D,
    image: &RgbImage,
    params: &AutoParams,
    mut progress: impl FnMut(Stage),
) -> Result<MaskData> {
    let grids = params.point_grids()?;
    let (w, h) = image.dimensions();
    let crops = if params.tiles.applies(w, h) {
        tile_crop_boxes(w, h, params.tiling)?
    } else {
        generate_crop_boxes(w, h, params.crop_n_layers, params.crop_overlap_ratio)?
    };
    let total: usize = crops.iter().map(|(_, l)| grids[*l as usize].len()).sum();
    let mut done = 0;
    let mut data = MaskData::default();
    for (i, (crop, layer)) in crops.iter().enumerate() {
        progress(Stage::Crop {
            crop: i,
            crops: crops.len(),
        });
        let crop_data = process_crop(decoder, image, crop, &grids[*layer as usize], params, |n| {
            done += n;
            progress(Stage::Points { done, total });
        })?;
        data.cat(crop_data);
    }
    if crops.len() > 1 {
        // Prefer masks from smaller crops: score 1 / crop area (float32).
        let scores: Vec<f32> = data
            .records
            .iter()
            .map(|r| 1.0f32 / r.crop_box.area() as f32)
            .collect();
        let keep = batched_nms(&data.boxes_f32(), &scores, params.crop_nms_thresh);
        data.select(&keep);
    }
    if params.min_mask_region_area > 0 {
        postprocess_small_regions(
            &mut data,
            params.min_mask_region_area,
            params.box_nms_thresh.max(params.crop_nms_thresh),
        );
    }
    Ok(data)
}

/// `_process_crop` and its `_process_batch`es.
fn process_crop<D: PointDecoder>(
    decoder: &D,
    image: &RgbImage,
    crop: &CropBox,
    grid: &[[f64; 2]],
    params: &AutoParams,
    mut on_points: impl FnMut(usize),
) -> Result<MaskData> {
    let (w, h) = image.dimensions();
    let whole = *crop == CropBox::whole(w, h);
    let cropped;
    let crop_image = if whole {
        image
    } else {
        cropped = image::imageops::crop_imm(image, crop.x0, crop.y0, crop.width(), crop.height())
            .to_image();
        &cropped
    };
    let embedding = decoder.embed(crop_image, whole)?;
    // points_scale = [crop width, crop height]; float64 grid × int.
    let (cw, ch) = (f64::from(crop.width()), f64::from(crop.height()));
    let points: Vec<[f64; 2]> = grid.iter().map(|p| [p[0] * cw, p[1] * ch]).collect();

    let high = (0.0 + params.stability_score_offset) as f32;
    let low = (0.0 - params.stability_score_offset) as f32;
    let iou_thresh = params.pred_iou_thresh as f32;
    let stability_thresh = params.stability_score_thresh as f32;
    let crop_w = crop.width() as usize;

    let mut data = MaskData::default();
    for batch in points.chunks(params.points_per_batch) {
        let outputs = decoder.decode_multimask(&embedding, batch)?;
        if outputs.len() != batch.len() {
            return Err(AutoError::Decoder(format!(
                "the decoder answered {} of {} points",
                outputs.len(),
                batch.len()
            )));
        }
        // masks.flatten(0, 1): point-major, then the three outputs.
        for (point, three) in batch.iter().zip(outputs) {
            for proposal in three {
                // SAM keeps `iou > thresh`; NaN fails it.
                let passes_iou = proposal.iou > iou_thresh;
                if params.pred_iou_thresh > 0.0 && !passes_iou {
                    continue;
                }
                let logits = decoder.upscale(&embedding, &proposal.low_res);
                let stability = stability_score(&logits, crop_w, high, low);
                let passes_stability = stability >= stability_thresh;
                if params.stability_score_thresh > 0.0 && !passes_stability {
                    continue;
                }
                // mask_threshold = 0.0
                let mask: Vec<bool> = logits.iter().map(|&v| v > 0.0).collect();
                drop(logits);
                let bbox = mask_to_box(&mask, crop_w, crop.height() as usize);
                if is_box_near_crop_edge(bbox, crop, w, h) {
                    continue;
                }
                data.records.push(MaskRecord {
                    rle: crate::crops::uncropped_rle(&mask, crop, w, h)?,
                    bbox,
                    predicted_iou: proposal.iou,
                    point: *point,
                    stability_score: stability,
                    crop_box: *crop,
                });
            }
        }
        on_points(batch.len());
    }

    // Duplicates within the crop, boxes still in the crop frame.
    let scores: Vec<f32> = data.records.iter().map(|r| r.predicted_iou).collect();
    let keep = batched_nms(&data.boxes_f32(), &scores, params.box_nms_thresh);
    data.select(&keep);
    for r in &mut data.records {
        r.bbox = uncrop_box(r.bbox, crop);
        r.point = uncrop_point(r.point, crop);
    }
    Ok(data)
}

/// `postprocess_small_regions`: fill small holes, then drop small islands, of every
/// mask; re-run box NMS with unchanged masks scored 1 and changed ones 0; the kept
/// changed masks take their new RLE and box.
pub fn postprocess_small_regions(data: &mut MaskData, min_area: u64, nms_thresh: f64) {
    if data.is_empty() {
        return;
    }
    let mut scores = Vec::with_capacity(data.len());
    let mut boxes = Vec::with_capacity(data.len());
    let mut changed_rles: Vec<Option<CocoRle>> = Vec::with_capacity(data.len());
    for r in &data.records {
        let mask = r.rle.decode();
        let (mask, holes_changed) = remove_small_regions(&mask, min_area, RegionMode::Holes);
        let (mask, islands_changed) = remove_small_regions(&mask, min_area, RegionMode::Islands);
        let unchanged = !holes_changed && !islands_changed;
        scores.push(if unchanged { 1.0f32 } else { 0.0 });
        boxes.push(mask_box(&mask));
        changed_rles.push((!unchanged).then(|| CocoRle::encode(&mask)));
    }
    let boxes_f32: Vec<[f32; 4]> = boxes.iter().map(|b| b.map(|v| v as f32)).collect();
    let keep = batched_nms(&boxes_f32, &scores, nms_thresh);
    for &i in &keep {
        if let Some(rle) = changed_rles[i].take() {
            data.records[i].rle = rle;
            data.records[i].bbox = boxes[i];
        }
    }
    data.select(&keep);
}

fn mask_box(mask: &Mask) -> [i64; 4] {
    let bools: Vec<bool> = mask.as_slice().iter().map(|&v| v != 0).collect();
    mask_to_box(&bools, mask.width() as usize, mask.height() as usize)
}

#[cfg(test)]
mod tests;
