//! `samkit segment`: one image, one prompt, one mask.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use ndarray_npy::WriteNpyExt;
use samkit_engine::{BoxPrompt, Point, PointLabel, Prompt};

use crate::budget_args::BudgetArgs;
use crate::model_args::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct SegmentArgs {
    /// Image to segment (PNG, JPEG, TIFF, BMP, WebP)
    pub image: PathBuf,
    /// Positive click X,Y in image pixels (repeatable)
    #[arg(long = "point", value_name = "X,Y", value_parser = parse_xy, allow_hyphen_values = true)]
    pub points: Vec<(f32, f32)>,
    /// Negative click X,Y in image pixels (repeatable)
    #[arg(long = "neg", value_name = "X,Y", value_parser = parse_xy, allow_hyphen_values = true)]
    pub negs: Vec<(f32, f32)>,
    /// Box X0,Y0,X1,Y1 in image pixels (top-left corner first)
    #[arg(long = "box", value_name = "X0,Y0,X1,Y1", value_parser = parse_box, allow_hyphen_values = true)]
    pub bbox: Option<BoxPrompt>,
    /// Mask output: PNG (8-bit, 255 = object) or, when it ends in .npy, a bool H×W array
    #[arg(long, value_name = "MASK.png")]
    pub out: PathBuf,
    /// Also write the image with the mask tinted, outlined and the prompt marked
    #[arg(long, value_name = "OVERLAY.png")]
    pub overlay: Option<PathBuf>,
    /// Print the result as JSON instead of text
    #[arg(long)]
    pub json: bool,
    /// Encode even when a cached embedding exists
    #[arg(long)]
    pub no_cache: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

fn parse_numbers(s: &str, n: usize, what: &str) -> Result<Vec<f32>, String> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    if parts.len() != n {
        return Err(format!(
            "expected {what} as {n} comma-separated numbers, got '{s}'"
        ));
    }
    parts
        .iter()
        .map(|p| {
            p.parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| format!("'{p}' in '{s}' is not a number"))
        })
        .collect()
}

fn parse_xy(s: &str) -> Result<(f32, f32), String> {
    let v = parse_numbers(s, 2, "X,Y")?;
    Ok((v[0], v[1]))
}

fn parse_box(s: &str) -> Result<BoxPrompt, String> {
    let v = parse_numbers(s, 4, "X0,Y0,X1,Y1")?;
    Ok(BoxPrompt {
        x0: v[0],
        y0: v[1],
        x1: v[2],
        y1: v[3],
    })
}

/// Encodes to memory first, so a failed encoding writes nothing, then writes `path` by
/// `samkit-outfile`'s rule (atomic for files, in place for FIFOs and `/dev/stdout`).
fn write_output(
    path: &Path,
    encode: impl FnOnce(&mut Vec<u8>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut bytes = Vec::new();
    encode(&mut bytes).with_context(|| format!("cannot encode {}", path.display()))?;
    samkit_outfile::write_bytes(path, &bytes)?;
    Ok(())
}

pub fn run(args: SegmentArgs) -> anyhow::Result<()> {
    samkit_outfile::check_writable(&args.out)?;
    if let Some(o) = &args.overlay {
        samkit_outfile::check_writable(o)?;
        if !o.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
            bail!("--overlay {} must end in .png", o.display());
        }
    }
    let img = samkit_engine::load_rgb_within(&args.image, args.budget.budget())?;
    let mut points: Vec<Point> = args
        .points
        .iter()
        .map(|&(x, y)| Point {
            x,
            y,
            label: PointLabel::Positive,
        })
        .collect();
    points.extend(args.negs.iter().map(|&(x, y)| Point {
        x,
        y,
        label: PointLabel::Negative,
    }));
    let prompt = Prompt {
        points,
        bbox: args.bbox,
        mask_input: None,
    };
    // Check the prompt against the image before loading anything heavy.
    prompt.validate(samkit_engine::Size {
        width: img.width(),
        height: img.height(),
    })?;

    let loaded = args.model.load()?;
    let t = Instant::now();
    let (embedding, cached) = if args.no_cache {
        (loaded.model.embed(&img)?, false)
    } else {
        loaded.cache.get_or_embed(&loaded.model, &img)?
    };
    let encoder_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let prediction = loaded.model.predict(&embedding, &prompt)?;
    let decoder_ms = t.elapsed().as_secs_f64() * 1e3;
    let best = prediction.best();
    let mask = best.logits.to_bools();
    let (w, h) = img.dimensions();

    let is_npy = args
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"));
    write_output(&args.out, |bytes| {
        if is_npy {
            let arr = ndarray::Array2::from_shape_vec((h as usize, w as usize), mask.clone())?;
            arr.write_npy(bytes)?;
        } else {
            best.logits
                .to_gray()
                .write_to(&mut std::io::Cursor::new(bytes), image::ImageFormat::Png)?;
        }
        Ok(())
    })?;
    if let Some(o) = &args.overlay {
        let pic = samkit_engine::overlay::render(&img, &mask, &prompt);
        write_output(o, |bytes| {
            Ok(pic.write_to(&mut std::io::Cursor::new(bytes), image::ImageFormat::Png)?)
        })?;
    }

    let binary = samkit_mask::Mask::from_bools(w, h, &mask)?;
    let area = binary.area();
    let bbox = binary.bbox().map(|b| [b.x, b.y, b.width, b.height]);
    let mut report = String::new();
    if args.json {
        let v = serde_json::json!({
            "image": args.image, "width": w, "height": h,
            "predicted_iou": best.iou, "area": area, "bbox": bbox,
            "encoder_ms": encoder_ms, "embedding_cached": cached, "decoder_ms": decoder_ms,
            "model": loaded.model.id(), "out": args.out, "overlay": args.overlay,
        });
        writeln!(report, "{}", serde_json::to_string_pretty(&v)?)?;
    } else {
        writeln!(report, "mask        {} ({w}x{h})", args.out.display())?;
        if let Some(o) = &args.overlay {
            writeln!(report, "overlay     {}", o.display())?;
        }
        writeln!(report, "predicted IoU {:.4}", best.iou)?;
        writeln!(
            report,
            "area        {area} px ({:.1}% of the image)",
            100.0 * area as f64 / (w as f64 * h as f64)
        )?;
        match bbox {
            Some([x, y, bw, bh]) => writeln!(report, "bbox        x={x} y={y} w={bw} h={bh}")?,
            None => writeln!(report, "bbox        none (empty mask)")?,
        }
        writeln!(
            report,
            "encoder     {encoder_ms:.0} ms{}",
            if cached { " (cached embedding)" } else { "" }
        )?;
        writeln!(report, "decoder     {decoder_ms:.1} ms")?;
    }
    let outputs = std::iter::once(&args.out).chain(&args.overlay);
    crate::print_report(&report, outputs);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coordinates_parse_with_clear_errors() {
        assert_eq!(parse_xy("230,210").unwrap(), (230.0, 210.0));
        assert!(parse_xy("230").unwrap_err().contains("X,Y"));
        assert!(parse_xy("a,b").unwrap_err().contains("not a number"));
        assert!(parse_box("1,2,3").is_err());
        assert!(parse_xy("nan,1").is_err());
    }
}
