//! Where a project image's pixels come from: a file, or one slice of a volume file
//! (`ct.nii.gz#z=012`, see `samkit_volume::slice_image_name`), windowed with the window
//! chosen for that volume ([`Windows`]) or the file's own. Every place that reads an
//! image's pixels (encoder, `/file`, thumbnails, segment-everything) goes through here.
//!
//! The last volume read stays decoded ([`VolumeCache`]): moving through the slices of a
//! volume, encoding them one after another or previewing windows would otherwise decode
//! the whole file for every slice.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::SystemTime;

use image::RgbImage;
use samkit_engine::{
    check_dimensions, is_volume_file, load_rgb_with, split_slice_name, EngineError, PixelBudget,
    ReadOptions, Window, WindowChoice,
};
use samkit_volume::Volume;

/// The windows chosen per volume file (project-relative, without `#z=`), as stored
/// (`Store::volume_windows`); shared by the encoder and the routes.
#[derive(Clone, Default)]
pub(crate) struct Windows(Arc<RwLock<HashMap<String, Window>>>);

impl Windows {
    pub fn from_rows(rows: &[samkit_store::VolumeWindow]) -> Self {
        let map = rows
            .iter()
            .filter_map(|r| Some((r.file.clone(), Window::new(r.center, r.width)?)))
            .collect();
        Windows(Arc::new(RwLock::new(map)))
    }

    pub fn get(&self, file: &str) -> Option<Window> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(file)
            .copied()
    }

    pub fn set(&self, file: &str, window: Option<Window>) {
        let mut map = self.0.write().unwrap_or_else(|e| e.into_inner());
        match window {
            Some(w) => map.insert(file.to_string(), w),
            None => map.remove(file),
        };
    }
}

/// A project image's source on disk.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ImageSource {
    /// The file (a volume file for a slice).
    pub file: PathBuf,
    /// The file, project-relative (the key of its window).
    pub relative: String,
    /// The slice of a volume file, if the image is one.
    pub slice: Option<u32>,
    /// The window chosen for the file, if any (else the file's own).
    pub window: Option<Window>,
}

/// A volume's window as `GET /api/images/{id}/window` reports it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct WindowInfo {
    /// The window the image is shown and encoded with.
    pub current: Window,
    /// The file's own window for this slice (DICOM's, else the slice's percentiles).
    pub default: Window,
    /// The lowest and highest value of the volume (for drag sensitivity and presets).
    pub range: (f64, f64),
}

impl ImageSource {
    /// The source of the image named `image_path` (project-relative) under `root`.
    pub fn of(root: &Path, image_path: &str, windows: &Windows) -> Self {
        let (file, slice) = split_slice_name(image_path);
        ImageSource {
            file: root.join(file),
            relative: file.to_string(),
            slice,
            window: windows.get(file),
        }
    }

    /// Whether the image can be windowed (a DICOM, NIfTI or TIFF stack slice).
    pub fn is_volume(&self) -> bool {
        is_volume_file(&self.file)
    }

    /// The engine's RGB pixels, through the chosen window (else the file's own).
    pub fn load_rgb(&self, budget: PixelBudget) -> samkit_engine::Result<RgbImage> {
        self.load_rgb_through(budget, self.window)
    }

    /// The engine's RGB pixels through `window` (`None`: the file's own), e.g. a preview
    /// while a window is being dragged. Images that are not volumes ignore it.
    pub fn load_rgb_through(
        &self,
        budget: PixelBudget,
        window: Option<Window>,
    ) -> samkit_engine::Result<RgbImage> {
        if !self.is_volume() {
            let options = ReadOptions {
                window: None,
                slice: self.slice,
            };
            return load_rgb_with(&self.file, budget, &options);
        }
        let (volume, z) = self.volume(budget)?;
        let choice = window.map_or(WindowChoice::FromFileOrPercentiles, WindowChoice::Fixed);
        let w = volume
            .window_for(z, &choice)
            .ok_or_else(|| self.no_slice(z, &volume))?;
        volume
            .slice_rgb(z, w)
            .ok_or_else(|| self.no_slice(z, &volume))
    }

    /// The window shown, the file's own and the value range (volumes only).
    pub fn window_info(&self, budget: PixelBudget) -> samkit_engine::Result<WindowInfo> {
        let (volume, z) = self.volume(budget)?;
        let default = volume
            .window_for(z, &WindowChoice::FromFileOrPercentiles)
            .ok_or_else(|| self.no_slice(z, &volume))?;
        let (lo, hi) = volume
            .values
            .iter()
            .filter(|v| v.is_finite())
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| {
                (lo.min(v), hi.max(v))
            });
        let range = if lo <= hi {
            (f64::from(lo), f64::from(hi))
        } else {
            (0.0, 0.0)
        };
        Ok(WindowInfo {
            current: self.window.unwrap_or(default),
            default,
            range,
        })
    }

    fn no_slice(&self, z: u32, volume: &Volume) -> EngineError {
        EngineError::Volume(samkit_volume::VolumeError::NoSuchSlice {
            path: self.file.clone(),
            slice: z,
            depth: volume.depth,
        })
    }

    /// The decoded volume (cached) and the slice this image is (default: the middle).
    fn volume(&self, budget: PixelBudget) -> samkit_engine::Result<(Arc<Volume>, u32)> {
        let (width, height, _) = samkit_volume::volume_size(&self.file, budget)?;
        check_dimensions(&self.file, width, height, budget)?;
        let volume = VolumeCache::global().read(&self.file, budget)?;
        let z = self.slice.unwrap_or(volume.depth / 2);
        Ok((volume, z))
    }
}

/// The last volume decoded, with the file state it was read from (a changed file is
/// read again). One entry: a volume can be hundreds of megabytes of values.
struct VolumeCache(Mutex<Option<(PathBuf, FileStamp, Arc<Volume>)>>);

/// What identifies a file's content without reading it: its (or, for a DICOM series
/// folder, its files') modification times and sizes.
type FileStamp = Vec<(Option<SystemTime>, u64)>;

fn stamp(path: &Path) -> FileStamp {
    let of = |p: &Path| {
        std::fs::metadata(p)
            .map(|m| (m.modified().ok(), m.len()))
            .unwrap_or((None, 0))
    };
    if path.is_dir() {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        entries.sort();
        entries.iter().map(|p| of(p)).collect()
    } else {
        vec![of(path)]
    }
}

impl VolumeCache {
    fn global() -> &'static VolumeCache {
        static CACHE: OnceLock<VolumeCache> = OnceLock::new();
        CACHE.get_or_init(|| VolumeCache(Mutex::new(None)))
    }

    fn read(&self, path: &Path, budget: PixelBudget) -> samkit_engine::Result<Arc<Volume>> {
        let now = stamp(path);
        {
            let entry = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((p, s, v)) = entry.as_ref() {
                if p == path && *s == now {
                    return Ok(v.clone());
                }
            }
        }
        // Decoded outside the lock: other images are not held up by a large volume.
        let volume = Arc::new(samkit_volume::read_volume(path, budget)?);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) =
            Some((path.to_path_buf(), now, volume.clone()));
        Ok(volume)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_name_their_volume_file_and_its_window() {
        let root = Path::new("/p");
        let windows = Windows::default();
        let w = Window::new(40.0, 400.0).unwrap();
        windows.set("scans/ct.nii.gz", Some(w));
        assert_eq!(
            ImageSource::of(root, "scans/ct.nii.gz#z=07", &windows),
            ImageSource {
                file: root.join("scans/ct.nii.gz"),
                relative: "scans/ct.nii.gz".into(),
                slice: Some(7),
                window: Some(w),
            }
        );
        assert_eq!(
            ImageSource::of(root, "a.png", &windows),
            ImageSource {
                file: root.join("a.png"),
                relative: "a.png".into(),
                slice: None,
                window: None,
            }
        );
        windows.set("scans/ct.nii.gz", None);
        assert_eq!(
            ImageSource::of(root, "scans/ct.nii.gz#z=07", &windows).window,
            None
        );
    }
}
