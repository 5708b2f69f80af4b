//! [`VolumeError`]: why a medical or scientific file cannot be used.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(
        "{}: not a DICOM, NIfTI or multi-page TIFF file (expected .dcm, .nii, .nii.gz, or a \
         .tif of two pages or more)",
        path.display()
    )]
    NotAVolume { path: PathBuf },
    #[error(
        "{}: declares {}×{}×{} voxels, over the pixel budget of {max_pixels} \
         (raise it with --max-pixels if the machine has the memory)",
        path.display(), dims[0], dims[1], dims[2]
    )]
    OverBudget {
        path: PathBuf,
        dims: [u64; 3],
        max_pixels: u64,
    },
    #[error("{}: there is no slice {slice}; the volume has {depth} (0 to {})", path.display(), depth.saturating_sub(1))]
    NoSuchSlice {
        path: PathBuf,
        slice: u32,
        depth: u32,
    },
    #[error("{}: {problem}", path.display())]
    Dicom { path: PathBuf, problem: String },
    #[error("{}: {problem}", path.display())]
    Nifti { path: PathBuf, problem: String },
    #[error("{}: {problem}", path.display())]
    Tiff { path: PathBuf, problem: String },
    #[error("{}: {problem}", path.display())]
    Write { path: PathBuf, problem: String },
}
