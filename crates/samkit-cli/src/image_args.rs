//! `--window` and `--slice`: how medical and scientific images (DICOM, NIfTI, 16-bit
//! PNG/TIFF) become the 8-bit picture SAM sees.

use samkit_engine::{ReadOptions, WindowChoice};

/// Flatten into a command that runs SAM on images.
#[derive(clap::Args, Debug, Clone, Copy, Default)]
pub struct ImageReadArgs {
    /// Window for DICOM, NIfTI and 16-bit images: CENTER,WIDTH (e.g. 40,400 CT soft
    /// tissue, -600,1500 lung, 400,1800 bone), `auto` (the file's window, else the 0.5–99.5
    /// percentiles) or `percentiles` [default: auto for DICOM/NIfTI; 16-bit PNG/TIFF v/257]
    #[arg(long, value_name = "C,W|auto|percentiles", value_parser = parse_window,
          allow_hyphen_values = true)]
    pub window: Option<WindowChoice>,
    /// Slice of a volume (a DICOM frame, a NIfTI k index), from 0 [default: the middle]
    #[arg(long, value_name = "N")]
    pub slice: Option<u32>,
}

fn parse_window(s: &str) -> Result<WindowChoice, String> {
    s.parse()
}

impl ImageReadArgs {
    pub fn options(&self) -> ReadOptions {
        ReadOptions {
            window: self.window,
            slice: self.slice,
        }
    }
}
