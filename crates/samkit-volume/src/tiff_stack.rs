//! Multi-page TIFF stacks (microscopy z-stacks, time series) through the `tiff` crate:
//! every page one slice. A TIFF of one page is an ordinary image (the `image` crate reads
//! it); only files of two pages or more are volumes.

use std::fs::File;
use std::io::BufReader;
use std::path::Path;

use tiff::decoder::{Decoder, DecodingResult, Limits};
use tiff::ColorType;

use crate::{check_budget, PixelBudget, Volume, VolumeError, VolumeKind, Window};

/// More pages than this is not a stack we read (and stops a looping IFD chain).
const MAX_PAGES: usize = 100_000;

fn problem(path: &Path, problem: impl Into<String>) -> VolumeError {
    VolumeError::Tiff {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

fn open(path: &Path, limits: Limits) -> Result<Decoder<BufReader<File>>, VolumeError> {
    let file = File::open(path).map_err(|e| problem(path, format!("cannot open: {e}")))?;
    Decoder::new(BufReader::new(file))
        .map(|d| d.with_limits(limits))
        .map_err(|e| problem(path, format!("not a readable TIFF file: {e}")))
}

/// Whether `path` is named `.tif`/`.tiff` and holds at least two pages (headers only).
pub(crate) fn is_stack(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if !(name.ends_with(".tif") || name.ends_with(".tiff")) {
        return false;
    }
    open(path, Limits::default()).is_ok_and(|mut d| d.more_images() && d.next_image().is_ok())
}

/// One page's layout: width, height, samples per pixel, bits per sample.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Page {
    width: u32,
    height: u32,
    channels: u8,
    bits: u8,
}

fn page(path: &Path, d: &mut Decoder<BufReader<File>>, n: usize) -> Result<Page, VolumeError> {
    let at = |e: tiff::TiffError| problem(path, format!("page {n}: {e}"));
    let (width, height) = d.dimensions().map_err(at)?;
    let (channels, bits) = match d.colortype().map_err(at)? {
        ColorType::Gray(b) => (1, b),
        ColorType::RGB(b) => (3, b),
        other => {
            return Err(problem(
                path,
                format!(
                    "page {n} is {other:?}: only grey and RGB stacks are read (convert it, \
                     e.g. with tifffile or Fiji, to grey or RGB pages)"
                ),
            ))
        }
    };
    Ok(Page {
        width,
        height,
        channels,
        bits,
    })
}

/// Every page's layout from the headers, all alike, and the whole stack within the budget.
fn pages(path: &Path, budget: PixelBudget) -> Result<(Page, u32), VolumeError> {
    let mut d = open(path, Limits::default())?;
    let first = page(path, &mut d, 0)?;
    let mut count = 1usize;
    while d.more_images() {
        if count >= MAX_PAGES {
            return Err(problem(path, format!("more than {MAX_PAGES} pages")));
        }
        d.next_image()
            .map_err(|e| problem(path, format!("page {count}: {e}")))?;
        let p = page(path, &mut d, count)?;
        if p != first {
            return Err(problem(
                path,
                format!(
                    "page {count} is {}×{} with {} samples of {} bits, page 0 {}×{} with {} of \
                     {}: a stack's pages must all be alike (split the file into images)",
                    p.width,
                    p.height,
                    p.channels,
                    p.bits,
                    first.width,
                    first.height,
                    first.channels,
                    first.bits
                ),
            ));
        }
        count += 1;
    }
    check_budget(
        path,
        [
            first.width as u64,
            first.height as u64,
            count as u64,
            first.channels as u64,
        ],
        budget,
    )?;
    Ok((first, count as u32))
}

pub(crate) fn size(path: &Path, budget: PixelBudget) -> Result<(u32, u32, u32), VolumeError> {
    let (p, depth) = pages(path, budget)?;
    Ok((p.width, p.height, depth))
}

fn to_f32(result: DecodingResult) -> Vec<f32> {
    match result {
        DecodingResult::U8(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::U16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::U32(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::U64(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::F16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::F32(v) => v,
        DecodingResult::F64(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::I8(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::I16(v) => v.into_iter().map(f32::from).collect(),
        DecodingResult::I32(v) => v.into_iter().map(|x| x as f32).collect(),
        DecodingResult::I64(v) => v.into_iter().map(|x| x as f32).collect(),
    }
}

pub(crate) fn read(path: &Path, budget: PixelBudget) -> Result<Volume, VolumeError> {
    let (first, depth) = pages(path, budget)?;
    let slice_len = first.width as usize * first.height as usize * first.channels as usize;
    // Each page's decoded buffer is at most one slice of 8-byte samples.
    let mut limits = Limits::default();
    limits.decoding_buffer_size = slice_len.saturating_mul(8).max(1 << 20);
    let mut d = open(path, limits)?;
    let mut values = Vec::with_capacity(slice_len * depth as usize);
    for n in 0..depth as usize {
        if n > 0 {
            d.next_image()
                .map_err(|e| problem(path, format!("page {n}: {e}")))?;
        }
        let page_values = to_f32(
            d.read_image()
                .map_err(|e| problem(path, format!("page {n}: cannot decode: {e}")))?,
        );
        if page_values.len() != slice_len {
            return Err(problem(
                path,
                format!(
                    "page {n} holds {} values where {}×{}×{} were declared",
                    page_values.len(),
                    first.width,
                    first.height,
                    first.channels
                ),
            ));
        }
        values.extend(page_values);
    }
    // 8-bit pages are shown as they are (the identity window); deeper data has no
    // window of its own in TIFF, so the default is the slice's percentile range.
    let file_window = (first.bits == 8).then(|| Window::spanning(0.0, 255.0));
    Ok(Volume {
        kind: VolumeKind::TiffStack,
        width: first.width,
        height: first.height,
        depth,
        channels: first.channels,
        values,
        file_window,
        // The decoder already turns WhiteIsZero pages into black-is-zero values.
        inverted: false,
        notes: Vec::new(),
    })
}
