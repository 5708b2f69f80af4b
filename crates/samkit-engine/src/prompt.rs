//! What the user tells SAM: points, an optional box and optional previous logits.

use crate::error::{EngineError, Result};
use crate::preprocess::{resized_size, Size};
use crate::LowResLogits;

/// Whether a point marks the object (positive) or the background (negative).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PointLabel {
    Positive,
    Negative,
}

/// A click in original-image pixel coordinates.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Point {
    pub x: f32,
    pub y: f32,
    pub label: PointLabel,
}

/// A box `[x0, y0, x1, y1]` in original-image pixel coordinates, x0 ≤ x1, y0 ≤ y1.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoxPrompt {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

/// One decoder request.
#[derive(Debug, Clone, Default)]
pub struct Prompt {
    pub points: Vec<Point>,
    pub bbox: Option<BoxPrompt>,
    /// The previous prediction's low-resolution logits, fed back on refinement.
    pub mask_input: Option<LowResLogits>,
}

impl Prompt {
    /// Checks that the prompt is usable on an image of `size`.
    pub fn validate(&self, size: Size) -> Result<()> {
        if self.points.is_empty() && self.bbox.is_none() {
            return Err(EngineError::Prompt(
                "no prompt: give at least one point (--point X,Y) or a box (--box X0,Y0,X1,Y1)"
                    .into(),
            ));
        }
        let (w, h) = (size.width as f32, size.height as f32);
        let inside = |x: f32, y: f32| {
            x.is_finite() && y.is_finite() && x >= 0.0 && y >= 0.0 && x < w && y < h
        };
        for p in &self.points {
            if !inside(p.x, p.y) {
                return Err(EngineError::Prompt(format!(
                    "point ({}, {}) is outside the {}x{} image: x must be in 0..{} and y in 0..{}",
                    p.x, p.y, size.width, size.height, size.width, size.height
                )));
            }
        }
        if let Some(b) = self.bbox {
            if !(b.x0.is_finite() && b.y0.is_finite() && b.x1.is_finite() && b.y1.is_finite()) {
                return Err(EngineError::Prompt(
                    "box has a non-finite coordinate".into(),
                ));
            }
            if b.x1 < b.x0 || b.y1 < b.y0 {
                return Err(EngineError::Prompt(format!(
                    "box ({}, {}, {}, {}) has x1 < x0 or y1 < y0: give it as X0,Y0,X1,Y1 with the top-left corner first",
                    b.x0, b.y0, b.x1, b.y1
                )));
            }
            if b.x0 < 0.0 || b.y0 < 0.0 || b.x1 > w || b.y1 > h {
                return Err(EngineError::Prompt(format!(
                    "box ({}, {}, {}, {}) reaches outside the {}x{} image",
                    b.x0, b.y0, b.x1, b.y1, size.width, size.height
                )));
            }
        }
        Ok(())
    }

    /// The decoder's `point_coords` (flattened `[N, 2]`, in the 1024 frame) and
    /// `point_labels`: the points, then the box corners (labels 2 and 3) or, without a
    /// box, SAM's padding point `(0, 0)` with label −1.
    pub fn decoder_points(&self, size: Size) -> (Vec<f32>, Vec<f32>) {
        let to = resized_size(size);
        // As segment-anything's `apply_coords`: scale in f64, then hand f32 to the model.
        let sx = to.width as f64 / size.width as f64;
        let sy = to.height as f64 / size.height as f64;
        let mut coords = Vec::with_capacity(2 * (self.points.len() + 2));
        let mut labels = Vec::with_capacity(self.points.len() + 2);
        for p in &self.points {
            coords.push((p.x as f64 * sx) as f32);
            coords.push((p.y as f64 * sy) as f32);
            labels.push(match p.label {
                PointLabel::Positive => 1.0,
                PointLabel::Negative => 0.0,
            });
        }
        match self.bbox {
            Some(b) => {
                coords.extend([(b.x0 as f64 * sx) as f32, (b.y0 as f64 * sy) as f32]);
                coords.extend([(b.x1 as f64 * sx) as f32, (b.y1 as f64 * sy) as f32]);
                labels.extend([2.0, 3.0]);
            }
            None => {
                coords.extend([0.0, 0.0]);
                labels.push(-1.0);
            }
        }
        (coords, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pt(x: f32, y: f32) -> Point {
        Point {
            x,
            y,
            label: PointLabel::Positive,
        }
    }

    #[test]
    fn empty_prompt_and_bad_points_are_refused() {
        let size = Size {
            width: 100,
            height: 50,
        };
        assert!(Prompt::default()
            .validate(size)
            .unwrap_err()
            .to_string()
            .contains("no prompt"));
        let p = Prompt {
            points: vec![pt(100.0, 10.0)],
            ..Default::default()
        };
        assert!(p
            .validate(size)
            .unwrap_err()
            .to_string()
            .contains("outside"));
        let p = Prompt {
            bbox: Some(BoxPrompt {
                x0: 50.0,
                y0: 0.0,
                x1: 10.0,
                y1: 10.0,
            }),
            ..Default::default()
        };
        assert!(p
            .validate(size)
            .unwrap_err()
            .to_string()
            .contains("x1 < x0"));
    }

    #[test]
    fn coordinates_scale_into_the_1024_frame_with_padding_point() {
        let size = Size {
            width: 640,
            height: 427,
        };
        let p = Prompt {
            points: vec![pt(320.0, 200.0)],
            ..Default::default()
        };
        let (c, l) = p.decoder_points(size);
        assert_eq!(c, vec![512.0, (200.0f64 * 683.0 / 427.0) as f32, 0.0, 0.0]);
        assert_eq!(l, vec![1.0, -1.0]);
        let p = Prompt {
            bbox: Some(BoxPrompt {
                x0: 0.0,
                y0: 0.0,
                x1: 640.0,
                y1: 427.0,
            }),
            ..Default::default()
        };
        let (c, l) = p.decoder_points(size);
        assert_eq!(c, vec![0.0, 0.0, 1024.0, 683.0]);
        assert_eq!(l, vec![2.0, 3.0]);
    }
}
