//! The real model: [`SamModel`] as a [`Segmenter`]. Clicks go to the decoder as integer pixel
//! coordinates (as `f32`); the engine scales them into the 1024 frame and appends SAM's
//! padding point. The mask is the best candidate's `logits > 0` at the original resolution,
//! and its low-resolution logits are what the `prev` variant feeds back.

use image::RgbImage;
use samkit_engine::{Embedding, LowResLogits, Point, PointLabel, Prompt, SamModel};

use crate::clicker::Click;
use crate::run::{BoxError, Segmentation, Segmenter};

impl Segmenter for SamModel {
    type Embedding = Embedding;
    type State = LowResLogits;

    fn embed(&self, image: &RgbImage) -> Result<Embedding, BoxError> {
        Ok(SamModel::embed(self, image)?)
    }

    fn predict(
        &self,
        embedding: &Embedding,
        clicks: &[Click],
        prev: Option<&LowResLogits>,
    ) -> Result<Segmentation<LowResLogits>, BoxError> {
        let prompt = Prompt {
            points: clicks.iter().map(point).collect(),
            bbox: None,
            mask_input: prev.cloned(),
        };
        let prediction = SamModel::predict(self, embedding, &prompt)?;
        let best = prediction.best();
        Ok(Segmentation {
            mask: best.logits.to_bools(),
            state: best.low_res.clone(),
        })
    }
}

/// A click as an engine point.
pub fn point(c: &Click) -> Point {
    Point {
        x: c.x as f32,
        y: c.y as f32,
        label: if c.positive {
            PointLabel::Positive
        } else {
            PointLabel::Negative
        },
    }
}
