//! Propagation through a volume: the mask accepted on one slice prompts the next slice
//! with its box (optionally itself as the mask input; see [`propagation_prompt`]), as
//! the object moves and changes a little from slice to slice, and a rule says when to stop — the predicted IoU drops below a
//! threshold, the mask vanishes, it suddenly grows (it leaked into a neighbour), or
//! nothing stands out under it any more.
//!
//! The last rule is not the model's: past the end of an object SAM, given a box and a
//! mask input, still returns a confident mask (a predicted IoU above 1 on a slice of
//! pure noise, measured on the tests' sphere). So the pixels decide: the object's
//! contrast against a band around it ([`object_contrast`]) must keep a share of what it
//! was on the slice before.
//!
//! The caller runs the loop (one slice after another, each result shown for review);
//! this module holds the prompt and the rule, so every front end propagates alike.

use image::RgbImage;
use samkit_mask::Mask;

use crate::preprocess::Size;
use crate::zoom::{mask_input_for_crop, Crop};
use crate::{BoxPrompt, LowResLogits, Prompt};

/// Logit of a mask input pixel made from a binary mask: inside +, outside −. About what
/// SAM's own low-res logits reach where it is sure.
pub const MASK_INPUT_LOGIT: f32 = 20.0;

/// SAM's mask input (low-res logits) for a binary mask over the whole image.
pub fn mask_input_from_mask(mask: &Mask) -> LowResLogits {
    let logits: Vec<f32> = mask
        .as_slice()
        .iter()
        .map(|&b| {
            if b != 0 {
                MASK_INPUT_LOGIT
            } else {
                -MASK_INPUT_LOGIT
            }
        })
        .collect();
    let size = Size {
        width: mask.width(),
        height: mask.height(),
    };
    mask_input_for_crop(&logits, size, &Crop::whole(size))
}

/// The prompt for the next slice from the mask on this one: its box (pixel edges) and,
/// `with_mask_input`, the mask itself as the mask input. `None` for an empty mask.
///
/// The mask input is off by default: with it the mask sticks to where the object was
/// (a disc moving 3 px per slice fell to IoU 0.84 with the truth two slices on, with
/// the input at ±20, ±8 or ±4 logits; the box alone kept ≥ 0.9 on every slice).
pub fn propagation_prompt(previous: &Mask, with_mask_input: bool) -> Option<Prompt> {
    let b = previous.bbox()?;
    Some(Prompt {
        points: Vec::new(),
        bbox: Some(BoxPrompt {
            x0: b.x as f32,
            y0: b.y as f32,
            x1: (b.x + b.width) as f32,
            y1: (b.y + b.height) as f32,
        }),
        mask_input: with_mask_input.then(|| mask_input_from_mask(previous)),
    })
}

/// When propagation stops.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PropagationRule {
    /// The lowest predicted IoU kept.
    pub min_iou: f32,
    /// A mask smaller than this many pixels has vanished.
    pub min_area: u64,
    /// A mask more than this many times the previous one's area (and at least
    /// [`PropagationRule::GROWTH_SLACK`] pixels larger) has leaked.
    pub max_growth: f64,
    /// The least share of the previous slice's [`object_contrast`] a mask must keep.
    pub min_contrast_share: f64,
}

impl Default for PropagationRule {
    fn default() -> Self {
        PropagationRule {
            min_iou: 0.8,
            min_area: 10,
            max_growth: 3.0,
            min_contrast_share: 0.25,
        }
    }
}

/// Why propagation stopped at a slice (its mask is not kept).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PropagationStop {
    LowIou { iou: f32, min_iou: f32 },
    Vanished { area: u64, min_area: u64 },
    Grew { area: u64, previous: u64 },
    NoObject { contrast: f64, previous: f64 },
}

impl PropagationStop {
    /// A short machine name (`low_iou`, `vanished`, `grew`).
    pub fn code(&self) -> &'static str {
        match self {
            PropagationStop::LowIou { .. } => "low_iou",
            PropagationStop::Vanished { .. } => "vanished",
            PropagationStop::Grew { .. } => "grew",
            PropagationStop::NoObject { .. } => "no_object",
        }
    }
}

impl std::fmt::Display for PropagationStop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PropagationStop::LowIou { iou, min_iou } => {
                write!(f, "predicted IoU {iou:.2} is below {min_iou:.2}")
            }
            PropagationStop::Vanished { area, min_area } => {
                write!(f, "the mask vanished ({area} px, fewer than {min_area})")
            }
            PropagationStop::Grew { area, previous } => write!(
                f,
                "the mask grew from {previous} to {area} px (it leaked into its surroundings)"
            ),
            PropagationStop::NoObject { contrast, previous } => write!(
                f,
                "nothing stands out under the mask (contrast {contrast:.1} grey levels, {previous:.1} on the slice before)"
            ),
        }
    }
}

impl PropagationRule {
    /// Slack of the growth rule, so that a small object may double between slices.
    pub const GROWTH_SLACK: u64 = 256;

    /// Whether a mask of `area` pixels with predicted `iou` and [`object_contrast`]
    /// `contrast`, following one of `previous` pixels and `previous_contrast`, is kept.
    /// A contrast is `None` where it cannot be measured (the mask covers its band).
    pub fn judge(
        &self,
        previous: u64,
        iou: f32,
        area: u64,
        contrast: Option<f64>,
        previous_contrast: Option<f64>,
    ) -> Result<(), PropagationStop> {
        if area < self.min_area.max(1) {
            return Err(PropagationStop::Vanished {
                area,
                min_area: self.min_area.max(1),
            });
        }
        if iou < self.min_iou {
            return Err(PropagationStop::LowIou {
                iou,
                min_iou: self.min_iou,
            });
        }
        if area as f64 > previous as f64 * self.max_growth && area > previous + Self::GROWTH_SLACK {
            return Err(PropagationStop::Grew { area, previous });
        }
        if let (Some(contrast), Some(previous)) = (contrast, previous_contrast) {
            if contrast < previous * self.min_contrast_share {
                return Err(PropagationStop::NoObject { contrast, previous });
            }
        }
        Ok(())
    }
}

/// How far an object stands out from its surroundings in `image`: the difference of the
/// mean grey level (Rec. 601 luma, 0–255) under `mask` and in a band around it (its
/// box grown by a quarter of its size, at least 4 px, less the mask). `None` for an
/// empty mask or no band (the mask fills the image), or sizes that differ.
pub fn object_contrast(image: &RgbImage, mask: &Mask) -> Option<f64> {
    if (image.width(), image.height()) != (mask.width(), mask.height()) {
        return None;
    }
    let b = mask.bbox()?;
    let margin = (b.width.max(b.height) / 4).max(4);
    let x0 = b.x.saturating_sub(margin);
    let y0 = b.y.saturating_sub(margin);
    let x1 = (b.x + b.width + margin).min(image.width());
    let y1 = (b.y + b.height + margin).min(image.height());
    let (mut inside, mut n_in, mut band, mut n_band) = (0.0f64, 0u64, 0.0f64, 0u64);
    for y in y0..y1 {
        for x in x0..x1 {
            let [r, g, bl] = image.get_pixel(x, y).0;
            let luma = 0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(bl);
            if mask.get(x, y) {
                inside += luma;
                n_in += 1;
            } else {
                band += luma;
                n_band += 1;
            }
        }
    }
    (n_in > 0 && n_band > 0).then(|| (inside / n_in as f64 - band / n_band as f64).abs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LOW_RES;

    #[test]
    fn the_prompt_is_the_masks_box_and_the_mask_itself() {
        let m = Mask::from_fn(64, 32, |x, y| (10..20).contains(&x) && (4..9).contains(&y)).unwrap();
        assert_eq!(propagation_prompt(&m, false).unwrap().mask_input, None);
        let p = propagation_prompt(&m, true).unwrap();
        assert_eq!(
            p.bbox,
            Some(BoxPrompt {
                x0: 10.0,
                y0: 4.0,
                x1: 20.0,
                y1: 9.0
            })
        );
        assert!(p.points.is_empty());
        let low = p.mask_input.unwrap();
        assert_eq!(low.0.len(), LOW_RES * LOW_RES);
        // 64 px wide over 256 cells: 4 cells per pixel; pixel (15, 6) is cell (60, 24).
        assert!(low.0[24 * LOW_RES + 60] > 10.0);
        assert!(low.0[24 * LOW_RES + 200] < -10.0);
        assert!(propagation_prompt(&Mask::new(8, 8).unwrap(), true).is_none());
    }

    #[test]
    fn the_rule_stops_on_low_iou_vanishing_and_leaks() {
        let r = PropagationRule::default();
        assert_eq!(r.judge(1000, 0.95, 900, None, None), Ok(()));
        assert_eq!(
            r.judge(1000, 0.7, 900, None, None),
            Err(PropagationStop::LowIou {
                iou: 0.7,
                min_iou: 0.8
            })
        );
        assert_eq!(
            r.judge(1000, 0.99, 3, None, None).unwrap_err().code(),
            "vanished"
        );
        assert_eq!(
            r.judge(1000, 0.99, 0, None, None).unwrap_err().code(),
            "vanished"
        );
        assert_eq!(
            r.judge(1000, 0.95, 3500, None, None),
            Err(PropagationStop::Grew {
                area: 3500,
                previous: 1000
            })
        );
        // A small object may grow more than 3× by a few pixels.
        assert_eq!(r.judge(20, 0.9, 100, None, None), Ok(()));
        let msg = r.judge(1000, 0.5, 900, None, None).unwrap_err().to_string();
        assert_eq!(msg, "predicted IoU 0.50 is below 0.80");
        // The object fades out: a quarter of the contrast it had is the least kept.
        assert_eq!(r.judge(1000, 0.99, 900, Some(60.0), Some(200.0)), Ok(()));
        assert_eq!(
            r.judge(1000, 0.99, 900, Some(40.0), Some(200.0)),
            Err(PropagationStop::NoObject {
                contrast: 40.0,
                previous: 200.0
            })
        );
        assert_eq!(r.judge(1000, 0.99, 900, Some(1.0), None), Ok(()));
    }

    #[test]
    fn contrast_is_the_grey_difference_between_the_mask_and_a_band_around_it() {
        // A 10 × 10 square of grey 200 on 50, mask exactly on it.
        let img = RgbImage::from_fn(40, 40, |x, y| {
            let v = if (10..20).contains(&x) && (10..20).contains(&y) {
                200
            } else {
                50
            };
            image::Rgb([v, v, v])
        });
        let on = Mask::from_fn(40, 40, |x, y| {
            (10..20).contains(&x) && (10..20).contains(&y)
        })
        .unwrap();
        let c = object_contrast(&img, &on).unwrap();
        assert!((c - 150.0).abs() < 1e-9, "{c}");
        // The same mask where there is nothing: no contrast.
        let off = Mask::from_fn(40, 40, |x, y| {
            (25..35).contains(&x) && (25..35).contains(&y)
        })
        .unwrap();
        assert!(object_contrast(&img, &off).unwrap() < 1e-9);
        assert_eq!(object_contrast(&img, &Mask::new(40, 40).unwrap()), None);
        assert_eq!(
            object_contrast(&img, &Mask::from_fn(40, 40, |_, _| true).unwrap()),
            None
        );
    }
}
