//! The real model: [`SamModel`] as a [`Segmenter`]. Clicks go to the decoder as integer pixel
//! coordinates (as `f32`); the engine scales them into the 1024 frame and appends SAM's
//! padding point. The mask is the chosen candidate's `logits > 0` at the original
//! resolution, and its low-resolution logits are what the `prev` variant feeds back.
//!
//! Which candidate is chosen is the [`Strategy`]: the shipped decoder's own rule (`sam`,
//! what `SamModel` alone does) or the highest predicted IoU among all four outputs
//! (`best-iou`, [`SamSegmenter`]).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use image::RgbImage;
use samkit_engine::{
    upscale_logits, Decoded, DecoderBackend, Embedding, LowResLogits, Point, PointLabel, Prompt,
    SamDecoder, SamModel,
};
use serde::{Deserialize, Serialize};

use crate::clicker::Click;
use crate::error::{EvalError, Result};
use crate::run::{BoxError, Segmentation, Segmenter};

/// Which of the decoder's candidate masks a click keeps (and feeds back in `prev`).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Strategy {
    /// The shipped decoder's rule: the best of the three multimask outputs for a lone
    /// click, the single-mask output once there are more points.
    #[default]
    Sam,
    /// The highest predicted IoU among all four outputs, at every click.
    BestIou,
    /// SAM's rule, decoded twice from click 2 on, with and without the previous logits
    /// as mask input; the one whose kept mask predicts the higher IoU wins (ties: with).
    PrevOrFresh,
}

impl Strategy {
    pub const ALL: [Strategy; 3] = [Strategy::Sam, Strategy::BestIou, Strategy::PrevOrFresh];

    pub fn name(self) -> &'static str {
        match self {
            Strategy::Sam => "sam",
            Strategy::BestIou => "best-iou",
            Strategy::PrevOrFresh => "prev-or-fresh",
        }
    }

    /// The index in `decoded.candidates` this strategy keeps.
    pub fn choose(self, decoded: &Decoded) -> usize {
        match self {
            Strategy::Sam | Strategy::PrevOrFresh => decoded.selected,
            Strategy::BestIou => decoded.best_iou(),
        }
    }
}

impl fmt::Display for Strategy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Strategy {
    type Err = EvalError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "sam" => Ok(Strategy::Sam),
            "best-iou" => Ok(Strategy::BestIou),
            "prev-or-fresh" => Ok(Strategy::PrevOrFresh),
            _ => Err(EvalError::Config(format!(
                "unknown strategy '{s}': use sam, best-iou or prev-or-fresh"
            ))),
        }
    }
}

/// [`SamModel`] with a candidate [`Strategy`].
pub struct SamSegmenter<'a> {
    model: &'a SamModel,
    decoder: Arc<SamDecoder>,
    strategy: Strategy,
}

impl<'a> SamSegmenter<'a> {
    /// `best-iou` needs all four outputs, which only the native decoder gives (ONNX
    /// Runtime returns the selected mask and, for a lone click, the single-mask one): with
    /// ONNX Runtime it is a configuration error, not a quietly different experiment.
    pub fn new(model: &'a SamModel, strategy: Strategy) -> Result<Self> {
        let decoder = model.decoder();
        if strategy != Strategy::Sam && decoder.backend() != DecoderBackend::Native {
            let why = decoder.notice().map_or_else(
                || "the decoder runs on ONNX Runtime".to_string(),
                |n| format!("the native decoder is not available ({n})"),
            );
            return Err(EvalError::Config(format!(
                "--strategy {} compares candidate masks and their predicted IoUs, which only the native decoder returns, and {why}; use --decoder-backend native or --strategy sam", strategy.name()
            )));
        }
        Ok(Self {
            model,
            decoder,
            strategy,
        })
    }

    pub fn strategy(&self) -> Strategy {
        self.strategy
    }

    /// The mask (at the embedding's image size) and low-resolution logits of the candidate
    /// the strategy keeps, for `clicks` and an optional mask input.
    pub(crate) fn decode(
        &self,
        embedding: &Embedding,
        clicks: &[Click],
        mask_input: Option<LowResLogits>,
    ) -> Result<(Vec<bool>, LowResLogits), BoxError> {
        let prompt = prompt(clicks, mask_input);
        if self.strategy == Strategy::Sam {
            // The decoder's own selection, upscaled by the decoder (the only candidate).
            let prediction = self.model.predict(embedding, &prompt)?;
            let best = prediction.best();
            return Ok((best.logits.to_bools(), best.low_res.clone()));
        }
        let mut decoded = self.decoder.decode_candidates(embedding, &prompt)?;
        if self.strategy == Strategy::PrevOrFresh && prompt.mask_input.is_some() {
            let fresh = self.decoder.decode_candidates(
                embedding,
                &Prompt {
                    mask_input: None,
                    ..prompt
                },
            )?;
            let iou = |d: &Decoded| d.candidates[d.selected].iou;
            if iou(&fresh) > iou(&decoded) {
                decoded = fresh;
            }
        }
        let chosen = &decoded.candidates[self.strategy.choose(&decoded)];
        // Only the chosen candidate is upscaled.
        let logits = upscale_logits(&chosen.low_res, embedding.original);
        Ok((logits.to_bools(), chosen.low_res.clone()))
    }
}

/// A prompt of clicks, with an optional mask input.
pub(crate) fn prompt(clicks: &[Click], mask_input: Option<LowResLogits>) -> Prompt {
    Prompt {
        points: clicks.iter().map(point).collect(),
        bbox: None,
        mask_input,
    }
}

impl Segmenter for SamSegmenter<'_> {
    type Embedding = Embedding;
    type State = LowResLogits;

    fn embed(&self, image: &RgbImage) -> Result<Embedding, BoxError> {
        Ok(self.model.embed(image)?)
    }

    fn predict(
        &self,
        embedding: &Embedding,
        clicks: &[Click],
        prev: Option<&LowResLogits>,
    ) -> Result<Segmentation<LowResLogits>, BoxError> {
        let (mask, state) = self.decode(embedding, clicks, prev.cloned())?;
        Ok(Segmentation { mask, state })
    }
}

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
        let prediction = SamModel::predict(self, embedding, &prompt(clicks, prev.cloned()))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_engine::LowResCandidate;

    fn decoded(ious: &[f32], selected: usize) -> Decoded {
        Decoded {
            candidates: ious
                .iter()
                .enumerate()
                .map(|(i, &iou)| LowResCandidate {
                    token: Some(i as u8),
                    iou,
                    stability: 1.0,
                    low_res: LowResLogits(vec![i as f32]),
                })
                .collect(),
            selected,
        }
    }

    #[test]
    fn sam_keeps_the_decoders_selection_best_iou_the_highest_prediction() {
        // More than one click: the shipped rule takes the single-mask output (0) even
        // though a multimask output predicts a higher IoU.
        let d = decoded(&[0.80, 0.70, 0.95, 0.90], 0);
        assert_eq!(Strategy::Sam.choose(&d), 0);
        assert_eq!(Strategy::BestIou.choose(&d), 2);
        // Ties go to the first (the single-mask output before the multimask ones).
        let d = decoded(&[0.9, 0.9, 0.5, 0.5], 1);
        assert_eq!(Strategy::Sam.choose(&d), 1);
        assert_eq!(Strategy::BestIou.choose(&d), 0);
    }

    #[test]
    fn strategy_names_round_trip() {
        for s in Strategy::ALL {
            assert_eq!(s.name().parse::<Strategy>().unwrap(), s);
            assert_eq!(
                serde_json::to_string(&s).unwrap(),
                format!("\"{}\"", s.name())
            );
        }
        assert!("best".parse::<Strategy>().is_err());
        assert_eq!(Strategy::default(), Strategy::Sam);
    }
}
