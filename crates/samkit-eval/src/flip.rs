//! Horizontal-flip test-time augmentation (RITM's `AddHorizontalFlip`, on by default in its
//! evaluation): every click is decoded on the image and on its mirror image, and the two
//! full-resolution logits (the mirror's flipped back) are averaged. Costs one more encoder
//! pass per image and one more decoder pass per click. Each side keeps its own
//! low-resolution logits as the next click's mask input (SAM's protocol on each).

use image::RgbImage;
use samkit_engine::{Embedding, LowResLogits, SamModel};

use crate::clicker::Click;
use crate::run::{BoxError, Segmentation, Segmenter};
use crate::sam::prompt;

/// [`SamModel`] (SAM's own candidate rule) averaged with its mirror image.
pub struct FlipSegmenter<'a> {
    model: &'a SamModel,
}

impl<'a> FlipSegmenter<'a> {
    pub fn new(model: &'a SamModel) -> Self {
        FlipSegmenter { model }
    }
}

impl Segmenter for FlipSegmenter<'_> {
    type Embedding = (Embedding, Embedding);
    type State = (LowResLogits, LowResLogits);

    fn embed(&self, image: &RgbImage) -> Result<Self::Embedding, BoxError> {
        let mirror = image::imageops::flip_horizontal(image);
        Ok((self.model.embed(image)?, self.model.embed(&mirror)?))
    }

    fn predict(
        &self,
        embedding: &Self::Embedding,
        clicks: &[Click],
        prev: Option<&Self::State>,
    ) -> Result<Segmentation<Self::State>, BoxError> {
        let w = embedding.0.original.width;
        let mirrored: Vec<Click> = clicks
            .iter()
            .map(|c| Click {
                x: w - 1 - c.x,
                ..*c
            })
            .collect();
        let a = self
            .model
            .predict(&embedding.0, &prompt(clicks, prev.map(|p| p.0.clone())))?;
        let b = self
            .model
            .predict(&embedding.1, &prompt(&mirrored, prev.map(|p| p.1.clone())))?;
        let (a, b) = (a.best(), b.best());
        let w = w as usize;
        let mask = a
            .logits
            .data
            .chunks(w)
            .zip(b.logits.data.chunks(w))
            .flat_map(|(ra, rb)| ra.iter().zip(rb.iter().rev()).map(|(&x, &y)| x + y > 0.0))
            .collect();
        Ok(Segmentation {
            mask,
            state: (a.low_res.clone(), b.low_res.clone()),
        })
    }
}
