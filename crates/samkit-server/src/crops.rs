//! Embeddings of crops of an image, for zoom-in refinement ([`samkit_engine::zoom`]): a
//! refinement click on an image larger than the model's view is decoded on a crop around
//! the mask, encoded at the model's full input size, so the crop shows pixels the
//! whole-image view shrank away.
//!
//! A crop is encoded when a refinement needs it, or ahead of it: after the first click on
//! such an image the region around its mask is encoded while the annotator looks at the
//! mask. One crop is encoded at a time (a second request for the same region waits for
//! the first instead of encoding it twice). The last few crops are kept in memory and every
//! crop goes to the embedding cache, keyed like a whole image by its pixels' hash; a crop
//! is reused as RITM keeps its crop: positive clicks inside, the next region overlapping it
//! by IoU ≥ 0.5 ([`samkit_engine::zoom::keeps`]).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use samkit_engine::zoom::{cut, keeps, Crop};
use samkit_engine::{image_hash, Embedding};

use crate::engine::{Engine, ModelState};

/// Crops kept in memory (all images together): a refinement uses one at a time.
const KEPT: usize = 4;

/// The crops an engine keeps.
#[derive(Default)]
pub struct Crops {
    /// Most recently used last.
    recent: Mutex<VecDeque<(i64, Crop, Arc<Embedding>)>>,
    /// Held while a crop is encoded.
    encoding: tokio::sync::Mutex<()>,
}

/// A crop's embedding as a refinement uses it.
pub struct CropEmbedding {
    pub crop: Crop,
    pub embedding: Arc<Embedding>,
    /// Milliseconds spent encoding (or loading it from the cache) for this request; 0 when
    /// a kept crop was reused.
    pub encode_ms: f64,
}

impl Crops {
    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(i64, Crop, Arc<Embedding>)>> {
        self.recent.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The most recently used kept crop of image `id` that RITM's rule keeps for the
    /// region `roi` and the `positive` clicks ([`keeps`]), marked as used.
    fn find(&self, id: i64, roi: &Crop, positive: &[(f32, f32)]) -> Option<(Crop, Arc<Embedding>)> {
        let mut recent = self.lock();
        // Without a positive point the rule keeps any crop, which may hold no point at
        // all: such a refinement gets its own region.
        if positive.is_empty() {
            return None;
        }
        let at = recent
            .iter()
            .rposition(|(i, c, _)| *i == id && keeps(c, roi, positive))?;
        let entry = recent.remove(at)?;
        let found = (entry.1, entry.2.clone());
        recent.push_back(entry);
        Some(found)
    }

    fn keep(&self, id: i64, crop: Crop, embedding: Arc<Embedding>) {
        let mut recent = self.lock();
        recent.retain(|(i, c, _)| !(*i == id && *c == crop));
        recent.push_back((id, crop, embedding));
        while recent.len() > KEPT {
            recent.pop_front();
        }
    }

    /// Forgets every crop of image `id` (its pixels changed).
    pub fn forget(&self, id: i64) {
        self.lock().retain(|(i, _, _)| *i != id);
    }
}

impl Engine {
    /// An embedding of a crop of image `id` for the region `roi` and the `positive` clicks:
    /// a kept one that RITM's rule keeps, else `roi` itself, from the cache or encoded now.
    pub async fn crop_embedding(
        &self,
        id: i64,
        roi: Crop,
        positive: &[(f32, f32)],
    ) -> Result<CropEmbedding, String> {
        let reused = |(crop, embedding)| CropEmbedding {
            crop,
            embedding,
            encode_ms: 0.0,
        };
        if let Some(found) = self.crops.find(id, &roi, positive) {
            return Ok(reused(found));
        }
        let _one_at_a_time = self.crops.encoding.lock().await;
        // Encoded while this request waited for its turn?
        if let Some(found) = self.crops.find(id, &roi, positive) {
            return Ok(reused(found));
        }
        let model = match self.model() {
            ModelState::Ready(m) => m,
            _ => return Err("the model is not loaded".into()),
        };
        let image = self.store.image(id).await.map_err(|e| e.to_string())?;
        let source = crate::source::ImageSource::of(&self.root, &image.path, &self.windows);
        let (cache, budget) = (self.cache.clone(), self.budget);
        let t = Instant::now();
        let embedding = tokio::task::spawn_blocking(move || {
            let img = source.load_rgb(budget).map_err(|e| e.to_string())?;
            if roi.x1 > img.width() || roi.y1 > img.height() {
                return Err(format!(
                    "the crop {roi:?} does not fit the {}×{} image",
                    img.width(),
                    img.height()
                ));
            }
            let pixels = cut(&img, &roi);
            drop(img);
            let hash = image_hash(&pixels);
            let cached = cache.load(model.id(), &hash).filter(|e| {
                (e.original.width, e.original.height) == (pixels.width(), pixels.height())
            });
            let e = match cached {
                Some(e) => e,
                None => {
                    let e = model.embed(&pixels).map_err(|e| e.to_string())?;
                    cache.store(&hash, &e).map_err(|e| e.to_string())?;
                    e
                }
            };
            model.prepare(&e).map_err(|e| e.to_string())?;
            Ok(Arc::new(e))
        })
        .await
        .map_err(|e| format!("encoder crashed: {e}"))??;
        self.crops.keep(id, roi, embedding.clone());
        Ok(CropEmbedding {
            crop: roi,
            embedding,
            encode_ms: t.elapsed().as_secs_f64() * 1e3,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn crop(x0: u32, y0: u32, x1: u32, y1: u32) -> Crop {
        Crop { x0, y0, x1, y1 }
    }

    fn emb() -> Arc<Embedding> {
        let one = samkit_engine::Size {
            width: 1,
            height: 1,
        };
        Arc::new(Embedding {
            model_id: String::new(),
            original: one,
            resized: one,
            data: Vec::new(),
        })
    }

    #[test]
    fn a_kept_crop_is_reused_by_ritms_rule() {
        let crops = Crops::default();
        crops.keep(1, crop(0, 0, 500, 500), emb());
        crops.keep(1, crop(100, 100, 300, 300), emb());
        crops.keep(2, crop(0, 0, 900, 900), emb());
        // The most recent one the rule keeps, of the same image.
        let roi = crop(110, 100, 310, 300);
        assert_eq!(
            crops.find(1, &roi, &[(150.0, 150.0)]).unwrap().0,
            crop(100, 100, 300, 300)
        );
        // A positive click outside it: the larger one.
        assert_eq!(
            crops
                .find(1, &crop(50, 50, 450, 450), &[(350.0, 350.0)])
                .unwrap()
                .0,
            crop(0, 0, 500, 500)
        );
        // Not another image's; not one the region has moved away from; none without a
        // positive point.
        assert!(crops
            .find(1, &crop(600, 600, 800, 800), &[(700.0, 700.0)])
            .is_none());
        assert!(crops.find(3, &crop(0, 0, 10, 10), &[(5.0, 5.0)]).is_none());
        assert!(crops.find(1, &roi, &[]).is_none());
        crops.forget(1);
        assert!(crops.find(1, &roi, &[(150.0, 150.0)]).is_none());
        assert!(crops
            .find(2, &crop(0, 0, 900, 900), &[(5.0, 5.0)])
            .is_some());
    }

    #[test]
    fn only_the_last_few_crops_are_kept() {
        let crops = Crops::default();
        for i in 0..(KEPT as u32 + 2) {
            crops.keep(1, crop(100 * i, 0, 100 * i + 10, 10), emb());
        }
        assert!(crops.find(1, &crop(0, 0, 10, 10), &[(5.0, 5.0)]).is_none());
        let last = 100 * (KEPT as u32 + 1);
        let inside = [(last as f32 + 5.0, 5.0)];
        assert!(crops
            .find(1, &crop(last, 0, last + 10, 10), &inside)
            .is_some());
    }
}
