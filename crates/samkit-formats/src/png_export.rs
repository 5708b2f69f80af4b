//! PNG export. Layout under the output folder:
//!
//! * `masks/<stem>_<id>.png` — one binary mask per instance, 8-bit grey (Pillow "L"),
//!   255 = object;
//! * `instances/<stem>.png` — instance map, 0 = background, `k` = k-th instance of the
//!   image; 8-bit ("L") up to 255 instances, else 16-bit ("I;16");
//!   `instances.json` maps each value back to the annotation id;
//! * `semantic/<stem>.png` — indexed PNG ("P"), value `i + 1` = i-th category, colours
//!   from the categories (VOC colormap when unset); legend in `labels.json` and
//!   `labels.txt`;
//! * `cutouts/<stem>_<id>.png` — RGBA cut-out of each instance cropped to its box,
//!   transparent (and black) outside the mask; only when the source images are given.
//!
//! Where instances overlap, the later one wins in the maps.

use crate::maps::{instance_map, semantic_map};
use crate::model::{stem, AnnotationSet};
use crate::palette::{voc_colormap, write_indexed_png};
use crate::{FormatError, Problem};
use image::RgbaImage;
use serde_json::json;
use std::path::Path;

pub(crate) fn mkdir(dir: &Path) -> Result<(), FormatError> {
    std::fs::create_dir_all(dir).map_err(|e| FormatError::io(dir, e))
}

use crate::write::{write_png as save, write_text};

/// Writes a 16-bit greyscale PNG (Pillow "I;16") of `width × height` row-major
/// `pixels`, such as an instance map of more than 255 instances.
pub fn write_gray16_png(
    path: &Path,
    width: u32,
    height: u32,
    pixels: &[u16],
) -> Result<(), FormatError> {
    if pixels.len() as u64 != u64::from(width) * u64::from(height) {
        return Err(FormatError::write(
            path,
            format!("{} pixels are not {width}x{height}", pixels.len()),
        ));
    }
    // `ImageEncoder` takes 16-bit samples in native byte order.
    let bytes: Vec<u8> = pixels.iter().flat_map(|v| v.to_ne_bytes()).collect();
    save(path, &bytes, width, height, image::ExtendedColorType::L16)
}

/// Category palette: entry `i + 1` is the colour of the i-th category.
pub(crate) fn category_palette(set: &AnnotationSet) -> [[u8; 3]; 256] {
    let mut pal = voc_colormap();
    for (i, c) in set.categories.iter().enumerate().take(255) {
        if let Some(col) = c.color {
            pal[i + 1] = col;
        }
    }
    pal
}

/// Writes the PNG export; returns notes (e.g. cut-outs skipped for want of images).
pub fn export_png(
    set: &AnnotationSet,
    out: &Path,
    images_dir: Option<&Path>,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<Vec<String>, FormatError> {
    set.validate(out)?;
    if set.categories.len() > 255 {
        return Err(FormatError::write(
            out,
            "more than 255 categories do not fit an 8-bit semantic map",
        ));
    }
    let mut notes = Vec::new();
    for sub in ["masks", "instances", "semantic"] {
        mkdir(&out.join(sub))?;
    }
    if images_dir.is_some() {
        mkdir(&out.join("cutouts"))?;
    } else {
        notes.push("no images folder given: RGBA cut-outs not written".to_string());
    }
    let palette = category_palette(set);
    let groups = set.by_image();
    let total = groups.len();
    let mut legend = serde_json::Map::new();
    for (done, (img, insts)) in groups.into_iter().enumerate() {
        let s = stem(&img.file_name);
        let (w, h) = (img.width, img.height);
        for inst in &insts {
            let m = inst.mask.decode().to_gray_image();
            save(
                &out.join("masks").join(format!("{s}_{}.png", inst.id)),
                m.as_raw(),
                w,
                h,
                image::ExtendedColorType::L8,
            )?;
        }
        let map = instance_map(img, &insts);
        let path = out.join("instances").join(format!("{s}.png"));
        if insts.len() <= 255 {
            let bytes: Vec<u8> = map.iter().map(|&v| v as u8).collect();
            save(&path, &bytes, w, h, image::ExtendedColorType::L8)?;
        } else if insts.len() <= 65535 {
            write_gray16_png(&path, w, h, &map)?;
        } else {
            return Err(FormatError::write(
                &path,
                "more than 65535 instances in one image",
            ));
        }
        legend.insert(
            s.clone(),
            json!(insts
                .iter()
                .enumerate()
                .map(|(k, i)| json!({"value": k + 1, "id": i.id, "category_id": i.category_id}))
                .collect::<Vec<_>>()),
        );
        let sem = semantic_map(set, img, &insts);
        write_indexed_png(
            &out.join("semantic").join(format!("{s}.png")),
            w,
            h,
            &sem,
            &palette,
        )?;
        if let Some(dir) = images_dir {
            if !insts.is_empty() {
                write_cutouts(dir, out, img, &insts, &s)?;
            }
        }
        progress(done + 1, total);
    }
    let labels: Vec<_> = std::iter::once(
        json!({"value": 0, "name": "background", "color": [0, 0, 0]}),
    )
    .chain(
        set.categories.iter().enumerate().map(
            |(i, c)| json!({"value": i + 1, "id": c.id, "name": c.name, "color": palette[i + 1]}),
        ),
    )
    .collect();
    write_text(
        &out.join("labels.json"),
        &serde_json::to_string_pretty(&labels).unwrap_or_default(),
    )?;
    let mut txt = String::from("# value name r g b\n0 background 0 0 0\n");
    for (i, c) in set.categories.iter().enumerate() {
        let [r, g, b] = palette[i + 1];
        txt.push_str(&format!("{} {} {r} {g} {b}\n", i + 1, c.name));
    }
    write_text(&out.join("labels.txt"), &txt)?;
    write_text(
        &out.join("instances.json"),
        &serde_json::to_string_pretty(&legend).unwrap_or_default(),
    )?;
    Ok(notes)
}

fn write_cutouts(
    dir: &Path,
    out: &Path,
    img: &crate::ImageInfo,
    insts: &[&crate::Instance],
    s: &str,
) -> Result<(), FormatError> {
    let (file, slice) = samkit_volume::split_slice_name(&img.file_name);
    let src_path = dir.join(file);
    if samkit_volume::is_volume_file(&src_path) {
        // DICOM/NIfTI/TIFF stacks: the windowed slice the annotator saw.
        let budget = samkit_mask::PixelBudget::new(
            u64::from(img.width) * u64::from(img.height) * MAX_CUTOUT_SLICES,
        );
        let src = samkit_volume::read_slice_rgb(&src_path, slice, &Default::default(), budget)
            .map_err(|e| FormatError::write(&src_path, e.to_string()))?;
        let src = image::DynamicImage::ImageRgb8(src).to_rgba8();
        return write_cutout_files(out, img, insts, s, &src_path, &src);
    }
    // The source may not be larger than the size the set declares for it (which the
    // importers checked against the pixel budget): the decoder refuses more.
    let image_err = |source| FormatError::Image {
        path: src_path.clone(),
        source,
    };
    let mut limits = image::Limits::no_limits();
    limits.max_image_width = Some(img.width);
    limits.max_image_height = Some(img.height);
    limits.max_alloc =
        Some((u64::from(img.width) * u64::from(img.height)).saturating_mul(16) + (1 << 20));
    let mut reader = image::ImageReader::open(&src_path)
        .map_err(|e| FormatError::io(&src_path, e))?
        .with_guessed_format()
        .map_err(|e| FormatError::io(&src_path, e))?;
    reader.limits(limits);
    // zune-jpeg 0.5.15 overflows an i32 on some malformed JPEGs, a panic wherever overflow
    // checks are on (see samkit_engine::load_rgb_within): an error, not a crash.
    let src = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| reader.decode()))
        .unwrap_or_else(|_| {
            Err(image::ImageError::Decoding(
                image::error::DecodingError::new(
                    image::error::ImageFormatHint::Unknown,
                    "the image data is malformed (the decoder failed)",
                ),
            ))
        })
        .map_err(image_err)?
        .to_rgba8();
    write_cutout_files(out, img, insts, s, &src_path, &src)
}

/// Slices a volume used for cut-outs may hold (its whole budget is read).
const MAX_CUTOUT_SLICES: u64 = 4096;

fn write_cutout_files(
    out: &Path,
    img: &crate::ImageInfo,
    insts: &[&crate::Instance],
    s: &str,
    src_path: &Path,
    src: &RgbaImage,
) -> Result<(), FormatError> {
    if src.dimensions() != (img.width, img.height) {
        return Err(FormatError::invalid(
            src_path,
            None,
            Problem::SizeMismatch {
                mask_width: img.width,
                mask_height: img.height,
                image_width: src.width(),
                image_height: src.height(),
            },
        ));
    }
    for inst in insts {
        let mask = inst.mask.decode();
        let Some(b) = mask.bbox() else { continue };
        let cut = RgbaImage::from_fn(b.width, b.height, |x, y| {
            let (sx, sy) = (b.x + x, b.y + y);
            if mask.get(sx, sy) {
                let mut p = *src.get_pixel(sx, sy);
                p.0[3] = 255;
                p
            } else {
                image::Rgba([0, 0, 0, 0])
            }
        });
        let path = out.join("cutouts").join(format!("{s}_{}.png", inst.id));
        save(
            &path,
            cut.as_raw(),
            b.width,
            b.height,
            image::ExtendedColorType::Rgba8,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoder_panic_in_a_source_image_is_an_error() {
        // The JPEG on which zune-jpeg overflows (found by fuzzing, kept in fuzz/regressions).
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/image_decode");
        let out = tempfile::tempdir().unwrap();
        let img = crate::ImageInfo {
            id: 1,
            file_name: "zune_jpeg_dc_overflow.jpg".into(),
            width: 65_535,
            height: 46,
        };
        match write_cutouts(&dir, out.path(), &img, &[], "s") {
            Err(FormatError::Image { path, .. }) => {
                assert_eq!(path, dir.join("zune_jpeg_dc_overflow.jpg"))
            }
            Err(e) => panic!("unexpected error {e}"),
            // A release build wraps instead of panicking and may decode it.
            Ok(()) if cfg!(debug_assertions) => panic!("decoded a malformed JPEG"),
            Ok(()) => {}
        }
    }
}
