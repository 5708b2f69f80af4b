//! `samkit segment`: one image, one prompt, one mask.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{bail, Context};
use ndarray_npy::WriteNpyExt;
use samkit_engine::{BoxPrompt, MaskLogits, Point, PointLabel, Prompt};

use crate::budget_args::BudgetArgs;
use crate::image_args::ImageReadArgs;
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
    /// Also list every candidate mask the decoder proposes (token, predicted IoU,
    /// stability, area, bbox), marking the one written to --out
    #[arg(long)]
    pub candidates: bool,
    /// Write every candidate mask into this folder as candidate-<token>.png (created
    /// if missing)
    #[arg(long, value_name = "DIR")]
    pub all_out: Option<PathBuf>,
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
    #[command(flatten)]
    pub read: ImageReadArgs,
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

/// A candidate mask at full resolution and what the report says about it.
struct Shown {
    /// The decoder output token (0 = single-mask, 1..=3 = multimask); `None` when ONNX
    /// Runtime returned it without saying which.
    token: Option<u8>,
    iou: f32,
    logits: MaskLogits,
    /// Where `--all-out` wrote it.
    file: Option<PathBuf>,
}

/// The file name `--all-out` gives a candidate.
fn candidate_file_name(token: Option<u8>) -> String {
    match token {
        Some(t) => format!("candidate-{t}.png"),
        None => "candidate-selected.png".to_string(),
    }
}

/// What a token is, for people.
fn token_label(token: Option<u8>) -> String {
    match token {
        Some(0) => "0 (single)".to_string(),
        Some(t) => format!("{t} (multi)"),
        None => "- (selected)".to_string(),
    }
}

/// `--all-out DIR`: created if missing; must be a folder we can write in. Checked before
/// the model loads.
fn prepare_all_out(dir: &Path) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --all-out folder {}", dir.display()))?;
    }
    if !dir.is_dir() {
        bail!("--all-out {} is not a folder", dir.display());
    }
    samkit_outfile::check_writable(&dir.join(candidate_file_name(Some(0))))?;
    Ok(())
}

fn png_bytes(logits: &MaskLogits, bytes: &mut Vec<u8>) -> anyhow::Result<()> {
    logits
        .to_gray()
        .write_to(&mut std::io::Cursor::new(bytes), image::ImageFormat::Png)?;
    Ok(())
}

/// Area, bbox `[x, y, w, h]` and the full-resolution stability score of a candidate.
struct Stats {
    area: u64,
    bbox: Option<[u32; 4]>,
    stability: f32,
}

fn stats(logits: &MaskLogits) -> anyhow::Result<Stats> {
    let size = logits.size;
    let mask = samkit_mask::Mask::from_bools(size.width, size.height, &logits.to_bools())?;
    Ok(Stats {
        area: mask.area(),
        bbox: mask.bbox().map(|b| [b.x, b.y, b.width, b.height]),
        stability: samkit_engine::stability_score(&logits.data, 0.0, 1.0),
    })
}

pub fn run(args: SegmentArgs) -> anyhow::Result<()> {
    samkit_outfile::check_writable(&args.out)?;
    if let Some(o) = &args.overlay {
        samkit_outfile::check_writable(o)?;
        if !o.extension().is_some_and(|e| e.eq_ignore_ascii_case("png")) {
            bail!("--overlay {} must end in .png", o.display());
        }
    }
    let img =
        samkit_engine::load_rgb_with(&args.image, args.budget.budget(), &args.read.options())?;
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
    let original = samkit_engine::Size {
        width: img.width(),
        height: img.height(),
    };
    // Check the prompt against the image before loading anything heavy.
    prompt.validate(original)?;
    if let Some(dir) = &args.all_out {
        prepare_all_out(dir)?;
    }

    let loaded = args.model.load()?;
    let t = Instant::now();
    let (embedding, cached) = if args.no_cache {
        (loaded.model.embed(&img)?, false)
    } else {
        loaded.cache.get_or_embed(&loaded.model, &img)?
    };
    let encoder_ms = t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let (mut shown, selected) = if args.candidates || args.all_out.is_some() {
        let decoded = loaded
            .model
            .decoder()
            .decode_candidates(&embedding, &prompt)?;
        let shown: Vec<Shown> = decoded
            .candidates
            .iter()
            .map(|c| Shown {
                token: c.token,
                iou: c.iou,
                logits: samkit_engine::upscale_logits(&c.low_res, original),
                file: None,
            })
            .collect();
        (shown, decoded.selected)
    } else {
        // Only the mask the decoder selects is upscaled.
        let best = loaded
            .model
            .predict(&embedding, &prompt)?
            .candidates
            .remove(0);
        let shown = Shown {
            token: None,
            iou: best.iou,
            logits: best.logits,
            file: None,
        };
        (vec![shown], 0)
    };
    let decoder_ms = t.elapsed().as_secs_f64() * 1e3;
    let best = &shown[selected];
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
            png_bytes(&best.logits, bytes)?;
        }
        Ok(())
    })?;
    if let Some(o) = &args.overlay {
        let pic = samkit_engine::overlay::render(&img, &mask, &prompt);
        write_output(o, |bytes| {
            Ok(pic.write_to(&mut std::io::Cursor::new(bytes), image::ImageFormat::Png)?)
        })?;
    }
    if let Some(dir) = &args.all_out {
        for c in &mut shown {
            let path = dir.join(candidate_file_name(c.token));
            write_output(&path, |bytes| png_bytes(&c.logits, bytes))?;
            c.file = Some(path);
        }
    }

    let best = &shown[selected];
    let Stats { area, bbox, .. } = stats(&best.logits)?;
    let listed: Vec<(&Shown, Stats)> = if args.candidates {
        shown
            .iter()
            .map(|c| Ok((c, stats(&c.logits)?)))
            .collect::<anyhow::Result<_>>()?
    } else {
        Vec::new()
    };
    let backend = loaded.model.decoder().backend();
    let mut report = String::new();
    if args.json {
        let mut v = serde_json::json!({
            "image": args.image, "width": w, "height": h,
            "predicted_iou": best.iou, "area": area, "bbox": bbox,
            "encoder_ms": encoder_ms, "embedding_cached": cached, "decoder_ms": decoder_ms,
            "model": loaded.model.id(), "decoder": backend.to_string(),
            "out": args.out, "overlay": args.overlay,
        });
        if args.candidates {
            v["selected"] = serde_json::json!(selected);
            v["candidates"] = listed
                .iter()
                .enumerate()
                .map(|(i, (c, s))| {
                    serde_json::json!({
                        "token": c.token, "predicted_iou": c.iou, "stability": s.stability,
                        "area": s.area, "bbox": s.bbox, "selected": i == selected,
                        "file": c.file,
                    })
                })
                .collect();
        }
        if let Some(dir) = &args.all_out {
            v["all_out"] = serde_json::json!(dir);
        }
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
        if !listed.is_empty() {
            writeln!(
                report,
                "candidates  ({backend} decoder; * = the one in {}; stability of the full-resolution logits at 0 ± 1; bbox x,y,w,h)",
                args.out.display()
            )?;
            writeln!(
                report,
                "    token         predicted IoU  stability        area  bbox"
            )?;
            for (i, (c, s)) in listed.iter().enumerate() {
                let bbox = s.bbox.map_or("none".to_string(), |[x, y, bw, bh]| {
                    format!("{x},{y},{bw},{bh}")
                });
                writeln!(
                    report,
                    "  {} {:<12} {:>13.4}  {:>9.4}  {:>10}  {bbox}",
                    if i == selected { '*' } else { ' ' },
                    token_label(c.token),
                    c.iou,
                    s.stability,
                    s.area,
                )?;
            }
        }
        if let Some(dir) = &args.all_out {
            writeln!(
                report,
                "all masks   {} ({} file(s): {})",
                dir.display(),
                shown.len(),
                shown
                    .iter()
                    .map(|c| candidate_file_name(c.token))
                    .collect::<Vec<_>>()
                    .join(", ")
            )?;
        }
        writeln!(
            report,
            "encoder     {encoder_ms:.0} ms{}",
            if cached { " (cached embedding)" } else { "" }
        )?;
        writeln!(report, "decoder     {decoder_ms:.1} ms ({backend})")?;
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

    #[test]
    fn candidate_files_are_named_by_token() {
        assert_eq!(candidate_file_name(Some(0)), "candidate-0.png");
        assert_eq!(candidate_file_name(Some(3)), "candidate-3.png");
        assert_eq!(candidate_file_name(None), "candidate-selected.png");
    }

    #[test]
    fn all_out_folder_is_created_or_refused() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("a/b");
        prepare_all_out(&new).unwrap();
        assert!(new.is_dir());
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let err = prepare_all_out(&file).unwrap_err().to_string();
        assert!(err.contains("not a folder"), "{err}");
    }

    #[test]
    fn candidate_stats_come_from_the_full_resolution_logits() {
        // 4x3 logits: three pixels > 1, five > -1.
        let logits = MaskLogits {
            size: samkit_engine::Size {
                width: 4,
                height: 3,
            },
            data: vec![
                -5.0, 2.0, 3.0, -5.0, //
                -5.0, 1.5, 0.5, -0.5, //
                -5.0, -5.0, -5.0, -5.0,
            ],
        };
        let s = stats(&logits).unwrap();
        assert_eq!(s.area, 4);
        assert_eq!(s.bbox, Some([1, 0, 2, 2]));
        assert_eq!(s.stability, 3.0 / 5.0);
    }
}
