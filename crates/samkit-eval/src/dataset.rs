//! A labelled image set on disk: `--images DIR --masks DIR [--ignore DIR]`.
//!
//! - Masks are `<name>.png` in the masks folder; each pairs with the image of the same base
//!   name in the images folder, in any format the engine reads (png, jpg/jpeg, bmp,
//!   tif/tiff, webp). Images without a mask are not evaluated (counted in
//!   [`Dataset::images_without_mask`]).
//! - A mask is 8- or 16-bit grey; 0 is background and **every distinct non-zero value is one
//!   instance** (its id), evaluated separately. A 0/255 mask is one instance (id 255).
//!   Colour masks are converted to grey first, so use grey ids.
//! - An optional ignore map `<name>.png` in the ignore folder marks pixels excluded from
//!   IoU and click placement (non-zero = ignored); without one nothing is ignored.
//! - Errors (the whole run stops before any model time is spent): a mask without an image,
//!   two images with one base name, a mask or ignore map whose size differs from its image,
//!   unreadable or undecodable files.
//! - Skipped and reported (never counted as a success): a mask with no object pixels, or an
//!   instance whose pixels are all ignored.
//!
//! Everything is checked by [`Dataset::scan`], which decodes the masks but reads only the
//! image headers; the images are decoded during the run. Every declared size (image,
//! mask and ignore-map headers) is checked against the [`PixelBudget`] before anything
//! is decoded, so a mask file claiming 50000×50000 is an error, not gigabytes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::{DynamicImage, ImageDecoder, ImageReader};
use samkit_engine::PixelBudget;

use crate::error::{EvalError, Result};

/// Image file extensions paired with masks (lower case; matching ignores case).
pub const IMAGE_EXTENSIONS: &[&str] = &["png", "jpg", "jpeg", "bmp", "tif", "tiff", "webp"];

/// Where the dataset lives.
#[derive(Debug, Clone)]
pub struct DatasetPaths {
    pub images: PathBuf,
    pub masks: PathBuf,
    pub ignore: Option<PathBuf>,
}

/// One image with its mask, ready to evaluate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Base name shared by the image and the mask.
    pub name: String,
    pub image: PathBuf,
    pub mask: PathBuf,
    pub ignore: Option<PathBuf>,
    pub width: u32,
    pub height: u32,
    /// Instance ids (distinct non-zero mask values) to evaluate, ascending.
    pub instances: Vec<u32>,
}

/// A mask or instance left out, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub name: String,
    /// The instance id, or `None` when the whole mask was skipped.
    pub instance: Option<u32>,
    pub path: PathBuf,
    pub reason: String,
}

/// The checked dataset.
#[derive(Debug, Clone, Default)]
pub struct Dataset {
    /// Samples in base-name order.
    pub samples: Vec<Sample>,
    pub skipped: Vec<Skipped>,
    pub images_without_mask: usize,
    /// The pixel budget the files were checked against; the run decodes images within it.
    pub budget: PixelBudget,
}

/// A decoded mask: instance ids and ignore flags, row-major.
#[derive(Debug, Clone)]
pub struct Labels {
    pub width: u32,
    pub height: u32,
    pub ids: Vec<u32>,
    pub ignore: Vec<bool>,
}

impl Labels {
    /// The binary ground truth of one instance.
    pub fn instance(&self, id: u32) -> Vec<bool> {
        self.ids.iter().map(|&v| v == id).collect()
    }
}

fn list_dir(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        return Err(EvalError::NotADirectory {
            path: dir.to_path_buf(),
        });
    }
    let io = |source| EvalError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let path = entry.map_err(io)?.path();
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}

fn stem_and_ext(path: &Path) -> Option<(String, String)> {
    let stem = path.file_stem()?.to_str()?.to_string();
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    Some((stem, ext))
}

fn reader(
    path: &Path,
    budget: PixelBudget,
) -> Result<ImageReader<std::io::BufReader<std::fs::File>>> {
    let io = |source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut reader = ImageReader::open(path)
        .map_err(io)?
        .with_guessed_format()
        .map_err(io)?;
    reader.limits(budget.image_limits());
    Ok(reader)
}

/// The header's size, checked against `budget`.
fn dimensions(path: &Path, budget: PixelBudget) -> Result<(u32, u32)> {
    let image_err = |source| EvalError::Image {
        path: path.to_path_buf(),
        source,
    };
    let decoder = reader(path, budget)?.into_decoder().map_err(image_err)?;
    let (width, height) = decoder.dimensions();
    if !budget.allows(width, height) {
        return Err(EvalError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
            max_pixels: budget.max_pixels(),
        });
    }
    Ok((width, height))
}

/// Decodes a mask or ignore map after checking its declared size against `budget`.
fn decode(path: &Path, budget: PixelBudget) -> Result<DynamicImage> {
    dimensions(path, budget)?;
    let reader = reader(path, budget)?;
    // zune-jpeg 0.5.15 overflows an i32 on some malformed JPEGs, a panic wherever overflow
    // checks are on (see samkit_engine::load_rgb_within): an error, not a crash.
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.decode()))
        .unwrap_or_else(|_| {
            Err(image::ImageError::Decoding(
                image::error::DecodingError::new(
                    image::error::ImageFormatHint::Unknown,
                    "the image data is malformed (the decoder failed)",
                ),
            ))
        })
        .map_err(|source| EvalError::Image {
            path: path.to_path_buf(),
            source,
        })
}

/// Grey values of a mask image (16-bit kept as is, anything else as 8-bit grey).
fn grey_values(img: &DynamicImage) -> Vec<u32> {
    match img {
        DynamicImage::ImageLuma16(g) => g.as_raw().iter().map(|&v| u32::from(v)).collect(),
        DynamicImage::ImageLumaA16(_) => img
            .to_luma16()
            .as_raw()
            .iter()
            .map(|&v| u32::from(v))
            .collect(),
        _ => img
            .to_luma8()
            .as_raw()
            .iter()
            .map(|&v| u32::from(v))
            .collect(),
    }
}

impl Dataset {
    /// [`Dataset::scan_within`] the default [`PixelBudget`].
    pub fn scan(paths: &DatasetPaths) -> Result<Dataset> {
        Self::scan_within(paths, PixelBudget::DEFAULT)
    }

    /// Pairs masks with images and checks everything that can be checked without the
    /// model; no image, mask or ignore map may declare more pixels than `budget`.
    pub fn scan_within(paths: &DatasetPaths, budget: PixelBudget) -> Result<Dataset> {
        let mut images: BTreeMap<String, PathBuf> = BTreeMap::new();
        for path in list_dir(&paths.images)? {
            let Some((stem, ext)) = stem_and_ext(&path) else {
                continue;
            };
            if !IMAGE_EXTENSIONS.contains(&ext.as_str()) {
                continue;
            }
            if let Some(first) = images.get(&stem) {
                return Err(EvalError::AmbiguousImage {
                    stem,
                    first: first.clone(),
                    second: path,
                });
            }
            images.insert(stem, path);
        }
        if let Some(dir) = &paths.ignore {
            if !dir.is_dir() {
                return Err(EvalError::NotADirectory { path: dir.clone() });
            }
        }
        let masks: Vec<(String, PathBuf)> = list_dir(&paths.masks)?
            .into_iter()
            .filter_map(|p| match stem_and_ext(&p) {
                Some((stem, ext)) if ext == "png" => Some((stem, p)),
                _ => None,
            })
            .collect();
        if masks.is_empty() {
            return Err(EvalError::NoMasks {
                masks_dir: paths.masks.clone(),
            });
        }
        let mut dataset = Dataset {
            budget,
            ..Dataset::default()
        };
        let mut paired = 0usize;
        for (stem, mask) in masks {
            let Some(image) = images.get(&stem).cloned() else {
                return Err(EvalError::MaskWithoutImage {
                    mask,
                    stem,
                    images_dir: paths.images.clone(),
                });
            };
            paired += 1;
            let ignore = paths
                .ignore
                .as_ref()
                .map(|dir| dir.join(format!("{stem}.png")))
                .filter(|p| p.is_file());
            let mut sample = Sample {
                name: stem,
                image,
                mask,
                ignore,
                width: 0,
                height: 0,
                instances: Vec::new(),
            };
            let (width, height) = dimensions(&sample.image, budget)?;
            sample.width = width;
            sample.height = height;
            let labels = load_labels(&sample, budget)?;
            let mut ids: Vec<u32> = labels.ids.iter().copied().filter(|&v| v != 0).collect();
            ids.sort_unstable();
            ids.dedup();
            if ids.is_empty() {
                dataset.skipped.push(Skipped {
                    name: sample.name.clone(),
                    instance: None,
                    path: sample.mask.clone(),
                    reason: "the mask has no object pixels".into(),
                });
                continue;
            }
            for id in ids {
                let visible = labels
                    .ids
                    .iter()
                    .zip(&labels.ignore)
                    .any(|(&v, &ig)| v == id && !ig);
                if visible {
                    sample.instances.push(id);
                } else {
                    dataset.skipped.push(Skipped {
                        name: sample.name.clone(),
                        instance: Some(id),
                        path: sample.mask.clone(),
                        reason: "every pixel of this object is in the ignore map".into(),
                    });
                }
            }
            if !sample.instances.is_empty() {
                dataset.samples.push(sample);
            }
        }
        dataset.images_without_mask = images.len() - paired;
        Ok(dataset)
    }

    /// Number of instances to evaluate.
    pub fn instance_count(&self) -> usize {
        self.samples.iter().map(|s| s.instances.len()).sum()
    }

    /// Keeps the first `n` samples (in name order).
    pub fn truncate(&mut self, n: usize) {
        self.samples.truncate(n);
    }
}

/// Decodes a sample's mask and ignore map, checking their sizes against the budget and
/// the image.
pub fn load_labels(sample: &Sample, budget: PixelBudget) -> Result<Labels> {
    let check = |what: &'static str, path: &Path, img: &DynamicImage| {
        if (img.width(), img.height()) != (sample.width, sample.height) {
            return Err(EvalError::SizeMismatch {
                what,
                path: path.to_path_buf(),
                got_w: img.width(),
                got_h: img.height(),
                image: sample.image.clone(),
                want_w: sample.width,
                want_h: sample.height,
            });
        }
        Ok(())
    };
    let mask = decode(&sample.mask, budget)?;
    check("mask", &sample.mask, &mask)?;
    let ids = grey_values(&mask);
    let ignore = match &sample.ignore {
        Some(path) => {
            let img = decode(path, budget)?;
            check("ignore map", path, &img)?;
            grey_values(&img).into_iter().map(|v| v != 0).collect()
        }
        None => vec![false; ids.len()],
    };
    Ok(Labels {
        width: sample.width,
        height: sample.height,
        ids,
        ignore,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{GrayImage, Luma, RgbImage};

    fn grey(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> GrayImage {
        GrayImage::from_fn(w, h, |x, y| Luma([f(x, y)]))
    }

    struct Dirs {
        _tmp: tempfile::TempDir,
        paths: DatasetPaths,
    }

    fn dirs() -> Dirs {
        let tmp = tempfile::tempdir().unwrap();
        let paths = DatasetPaths {
            images: tmp.path().join("images"),
            masks: tmp.path().join("masks"),
            ignore: Some(tmp.path().join("ignore")),
        };
        for d in [&paths.images, &paths.masks, paths.ignore.as_ref().unwrap()] {
            std::fs::create_dir_all(d).unwrap();
        }
        Dirs { _tmp: tmp, paths }
    }

    #[test]
    fn pairs_by_name_and_splits_instances() {
        let d = dirs();
        let p = &d.paths;
        RgbImage::new(8, 6).save(p.images.join("a.jpg")).unwrap();
        RgbImage::new(8, 6).save(p.images.join("b.png")).unwrap();
        RgbImage::new(8, 6).save(p.images.join("c.png")).unwrap();
        RgbImage::new(8, 6)
            .save(p.images.join("unlabelled.png"))
            .unwrap();
        grey(8, 6, |x, _| {
            if x < 2 {
                3
            } else if x > 5 {
                7
            } else {
                0
            }
        })
        .save(p.masks.join("a.png"))
        .unwrap();
        grey(8, 6, |_, _| 0).save(p.masks.join("b.png")).unwrap();
        grey(8, 6, |x, y| if x == 1 && y == 1 { 255 } else { 0 })
            .save(p.masks.join("c.png"))
            .unwrap();
        grey(8, 6, |x, y| if x == 1 && y == 1 { 255 } else { 0 })
            .save(p.ignore.as_ref().unwrap().join("c.png"))
            .unwrap();
        let ds = Dataset::scan(p).unwrap();
        assert_eq!(ds.samples.len(), 1);
        assert_eq!(ds.samples[0].name, "a");
        assert_eq!(ds.samples[0].instances, vec![3, 7]);
        assert_eq!((ds.samples[0].width, ds.samples[0].height), (8, 6));
        assert_eq!(ds.images_without_mask, 1);
        assert_eq!(ds.skipped.len(), 2);
        assert_eq!(
            (ds.skipped[0].name.as_str(), ds.skipped[0].instance),
            ("b", None)
        );
        assert_eq!(
            (ds.skipped[1].name.as_str(), ds.skipped[1].instance),
            ("c", Some(255))
        );
        let labels = load_labels(&ds.samples[0], ds.budget).unwrap();
        assert_eq!(labels.instance(7).iter().filter(|&&b| b).count(), 12);
    }

    #[test]
    fn sizes_over_the_budget_are_refused_before_decoding() {
        let d = dirs();
        let p = &d.paths;
        RgbImage::new(40, 30).save(p.images.join("a.png")).unwrap();
        grey(40, 30, |x, _| u8::from(x < 5))
            .save(p.masks.join("a.png"))
            .unwrap();
        assert!(Dataset::scan_within(p, PixelBudget::new(1200)).is_ok());
        let err = Dataset::scan_within(p, PixelBudget::new(1199)).unwrap_err();
        assert!(
            matches!(
                err,
                EvalError::TooLarge {
                    width: 40,
                    height: 30,
                    ..
                }
            ),
            "{err}"
        );
        assert!(err.to_string().contains("--max-pixels"), "{err}");
        // A mask (or ignore map) over the budget is refused even when the image fits.
        grey(400, 300, |_, _| 1)
            .save(p.masks.join("a.png"))
            .unwrap();
        let err = Dataset::scan_within(p, PixelBudget::new(1200)).unwrap_err();
        assert!(
            matches!(err, EvalError::TooLarge { width: 400, .. }),
            "{err}"
        );
    }

    #[test]
    fn a_decoder_panic_is_an_error() {
        // The JPEG on which zune-jpeg overflows (found by fuzzing, kept in fuzz/regressions).
        let jpeg = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../fuzz/regressions/image_decode/zune_jpeg_dc_overflow.jpg");
        match decode(&jpeg, PixelBudget::DEFAULT) {
            Err(EvalError::Image { path, .. }) => assert_eq!(path, jpeg),
            Err(e) => panic!("unexpected error {e}"),
            // A release build wraps instead of panicking and may decode it.
            Ok(_) if cfg!(debug_assertions) => panic!("decoded a malformed JPEG"),
            Ok(_) => {}
        }
    }

    #[test]
    fn clear_errors() {
        let d = dirs();
        let p = &d.paths;
        grey(4, 4, |_, _| 255)
            .save(p.masks.join("lonely.png"))
            .unwrap();
        let err = Dataset::scan(p).unwrap_err().to_string();
        assert!(err.contains("lonely.png has no image"), "{err}");

        RgbImage::new(5, 4)
            .save(p.images.join("lonely.png"))
            .unwrap();
        let err = Dataset::scan(p).unwrap_err().to_string();
        assert!(
            err.contains("is 4x4 but image") && err.contains("5x4"),
            "{err}"
        );

        RgbImage::new(4, 4)
            .save(p.images.join("lonely.png"))
            .unwrap();
        grey(3, 3, |_, _| 0)
            .save(p.ignore.as_ref().unwrap().join("lonely.png"))
            .unwrap();
        let err = Dataset::scan(p).unwrap_err().to_string();
        assert!(err.contains("ignore map"), "{err}");

        std::fs::write(p.ignore.as_ref().unwrap().join("lonely.png"), b"not a png").unwrap();
        let err = Dataset::scan(p).unwrap_err().to_string();
        assert!(err.contains("cannot decode"), "{err}");

        RgbImage::new(4, 4)
            .save(p.images.join("lonely.bmp"))
            .unwrap();
        let err = Dataset::scan(p).unwrap_err().to_string();
        assert!(err.contains("share the base name"), "{err}");

        let missing = DatasetPaths {
            images: p.images.join("nope"),
            ..p.clone()
        };
        assert!(Dataset::scan(&missing)
            .unwrap_err()
            .to_string()
            .contains("not a directory"));
        let no_masks = DatasetPaths {
            masks: p.ignore.clone().unwrap().join("empty"),
            ..p.clone()
        };
        std::fs::create_dir_all(&no_masks.masks).unwrap();
        std::fs::remove_file(p.images.join("lonely.bmp")).unwrap();
        assert!(Dataset::scan(&no_masks)
            .unwrap_err()
            .to_string()
            .contains("no mask"));
    }
}
