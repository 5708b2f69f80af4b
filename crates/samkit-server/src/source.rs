//! Where a project image's pixels come from: a file, or one slice of a volume file
//! (`ct.nii.gz#z=012`, see `samkit_volume::slice_image_name`). Every place that reads an
//! image's pixels (encoder, `/file`, thumbnails, segment-everything) goes through here.

use std::path::{Path, PathBuf};

use image::RgbImage;
use samkit_engine::{load_rgb_with, split_slice_name, PixelBudget, ReadOptions};

/// A project image's source on disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImageSource {
    /// The file (a volume file for a slice).
    pub file: PathBuf,
    /// The slice of a volume file, if the image is one.
    pub slice: Option<u32>,
}

impl ImageSource {
    /// The source of the image named `image_path` (project-relative) under `root`.
    pub fn of(root: &Path, image_path: &str) -> Self {
        let (file, slice) = split_slice_name(image_path);
        ImageSource {
            file: root.join(file),
            slice,
        }
    }

    /// The engine's RGB pixels (a slice with its default window).
    pub fn load_rgb(&self, budget: PixelBudget) -> samkit_engine::Result<RgbImage> {
        let options = ReadOptions {
            window: None,
            slice: self.slice,
        };
        load_rgb_with(&self.file, budget, &options)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_name_their_volume_file() {
        let root = Path::new("/p");
        assert_eq!(
            ImageSource::of(root, "scans/ct.nii.gz#z=07"),
            ImageSource {
                file: root.join("scans/ct.nii.gz"),
                slice: Some(7)
            }
        );
        assert_eq!(
            ImageSource::of(root, "a.png"),
            ImageSource {
                file: root.join("a.png"),
                slice: None
            }
        );
    }
}
