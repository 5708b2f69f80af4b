//! Image embeddings and their on-disk cache.
//!
//! An embedding is keyed by the model id and a SHA-256 of the decoded RGB pixels (not of
//! the file bytes), so the same picture saved twice, or re-opened, is never re-encoded,
//! while an edited one always is.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use image::RgbImage;
use sha2::{Digest, Sha256};

use crate::error::{EngineError, Result};
use crate::model::SamModel;
use crate::preprocess::Size;

/// Number of f32 values in an embedding (`1 × 256 × 64 × 64`).
pub const EMBEDDING_LEN: usize = 256 * 64 * 64;

/// The encoder's output for one image, with the sizes the decoder needs.
#[derive(Debug, Clone)]
pub struct Embedding {
    pub model_id: String,
    /// The image as the user sees it (after EXIF orientation).
    pub original: Size,
    /// The image after `ResizeLongestSide`, before padding.
    pub resized: Size,
    /// `[1, 256, 64, 64]`, row-major.
    pub data: Vec<f32>,
}

/// The content hash that keys an image's embeddings: SHA-256 over width, height and the
/// RGB bytes, as lowercase hex.
pub fn image_hash(img: &RgbImage) -> String {
    let mut h = Sha256::new();
    h.update(img.width().to_le_bytes());
    h.update(img.height().to_le_bytes());
    h.update(img.as_raw());
    hex::encode(h.finalize())
}

const MAGIC: &[u8; 8] = b"SAMKEMB1";

/// A directory of embeddings, one file per (model, image hash).
#[derive(Debug, Clone)]
pub struct EmbeddingCache {
    dir: PathBuf,
}

impl EmbeddingCache {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    fn path(&self, model_id: &str, hash: &str) -> PathBuf {
        self.dir.join(model_id).join(format!("{hash}.emb"))
    }

    /// The cached embedding, or `None` when there is none or the file is unreadable
    /// (a damaged entry is treated as absent and rewritten on the next store).
    pub fn load(&self, model_id: &str, hash: &str) -> Option<Embedding> {
        read_embedding(&self.path(model_id, hash), model_id).ok()
    }

    /// Writes atomically (temporary file, then rename) so a crash never leaves a
    /// half-written entry that looks valid.
    pub fn store(&self, hash: &str, e: &Embedding) -> Result<()> {
        let path = self.path(&e.model_id, hash);
        let cache_err = |reason: String| EngineError::Cache {
            path: path.clone(),
            reason,
        };
        let dir = path.parent().expect("cache path has a parent");
        std::fs::create_dir_all(dir).map_err(|e| cache_err(e.to_string()))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| cache_err(e.to_string()))?;
        let mut buf = Vec::with_capacity(32 + 4 * e.data.len());
        buf.extend_from_slice(MAGIC);
        for v in [
            e.original.width,
            e.original.height,
            e.resized.width,
            e.resized.height,
        ] {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        for v in &e.data {
            buf.extend_from_slice(&v.to_le_bytes());
        }
        tmp.write_all(&buf).map_err(|e| cache_err(e.to_string()))?;
        tmp.persist(&path).map_err(|e| cache_err(e.to_string()))?;
        Ok(())
    }

    /// The embedding of `img` under `model`, from the cache or computed and stored.
    /// Returns whether it came from the cache.
    pub fn get_or_embed(&self, model: &SamModel, img: &RgbImage) -> Result<(Embedding, bool)> {
        let hash = image_hash(img);
        if let Some(e) = self.load(model.id(), &hash) {
            if e.original.width == img.width() && e.original.height == img.height() {
                return Ok((e, true));
            }
        }
        let e = model.embed(img)?;
        self.store(&hash, &e)?;
        Ok((e, false))
    }
}

fn read_embedding(path: &Path, model_id: &str) -> std::io::Result<Embedding> {
    let mut f = std::fs::File::open(path)?;
    let mut buf = Vec::with_capacity(24 + 4 * EMBEDDING_LEN);
    f.read_to_end(&mut buf)?;
    let bad = || std::io::Error::new(std::io::ErrorKind::InvalidData, "damaged embedding");
    if buf.len() != 24 + 4 * EMBEDDING_LEN || &buf[..8] != MAGIC {
        return Err(bad());
    }
    let u = |i: usize| u32::from_le_bytes(buf[8 + 4 * i..12 + 4 * i].try_into().expect("4 bytes"));
    let data = buf[24..]
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect();
    Ok(Embedding {
        model_id: model_id.to_string(),
        original: Size {
            width: u(0),
            height: u(1),
        },
        resized: Size {
            width: u(2),
            height: u(3),
        },
        data,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_and_load_round_trip_and_damage_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = EmbeddingCache::new(dir.path());
        let e = Embedding {
            model_id: "m1".into(),
            original: Size {
                width: 3,
                height: 2,
            },
            resized: Size {
                width: 1024,
                height: 683,
            },
            data: (0..EMBEDDING_LEN).map(|i| i as f32 * 0.5).collect(),
        };
        cache.store("abc", &e).unwrap();
        let back = cache.load("m1", "abc").unwrap();
        assert_eq!(back.data, e.data);
        assert_eq!(back.resized, e.resized);
        assert!(cache.load("m2", "abc").is_none());
        std::fs::write(dir.path().join("m1").join("abc.emb"), b"SAMKEMB1short").unwrap();
        assert!(cache.load("m1", "abc").is_none());
    }

    #[test]
    fn hash_depends_on_pixels_and_shape() {
        let a = RgbImage::from_pixel(2, 3, image::Rgb([1, 2, 3]));
        let b = RgbImage::from_pixel(3, 2, image::Rgb([1, 2, 3]));
        assert_ne!(image_hash(&a), image_hash(&b));
        assert_eq!(image_hash(&a), image_hash(&a.clone()));
    }
}
