//! `samkit auto`'s per-image outputs, one writer per format, each written atomically
//! (through `samkit-outfile`), and how a later run tells a complete output (to skip
//! it) and reads its masks back (to draw an overlay asked for after the fact):
//!
//! * sam-json (and coco's parts in `OUT.parts/`): SAM's list of records; complete when
//!   it is a JSON list;
//! * png: `<name>.png`, a 16-bit instance map (value k = the k-th record, 1-based, SAM's
//!   order; 0 = background; overlaps painted largest first so smaller masks stay
//!   visible) and `<name>.csv`, segment-anything's `metadata.csv` columns with id = the
//!   pixel value. The table is written first and the map last, after any old map is
//!   removed: complete when the table parses (ids 1..N) and the map is a 16-bit
//!   greyscale PNG. Masks read back are the visible parts;
//! * npz: `masks` `bool (N, H, W)` streamed one mask at a time, `area` int64,
//!   `bbox`/`crop_box` float64 XYWH, `predicted_iou`, `point_coords` `(N, 2)`,
//!   `stability_score` float64; complete when all seven arrays are there and `masks`
//!   is a bool `(N, H, W)`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use ndarray::{Array1, Array2};
use samkit_auto::instance_map::{instance_map, masks_from_instance_map, MAX_INSTANCES};
use samkit_auto::{MaskRecord, OutputMode, SamRecord};
use samkit_formats::numpy::{npz_contents, read_npz_masks, write_masks_npz, NpzColumn};
use samkit_formats::{CocoRle, PixelBudget};

use super::Format;

/// segment-anything's `metadata.csv` header (`scripts/amg.py`, `write_masks_to_folder`).
pub const CSV_HEADER: &str = "id,area,bbox_x0,bbox_y0,bbox_w,bbox_h,point_input_x,\
point_input_y,predicted_iou,stability_score,crop_box_x0,crop_box_y0,crop_box_w,crop_box_h";

/// The arrays of `--format npz`, `masks` first.
pub const NPZ_ARRAYS: [&str; 7] = [
    "masks",
    "area",
    "bbox",
    "predicted_iou",
    "point_coords",
    "stability_score",
    "crop_box",
];

/// The most bytes of a png output's table read back (65535 rows of ~150 bytes).
const MAX_TABLE_BYTES: u64 = 64 << 20;

/// The table beside a png output's instance map.
pub fn table_path(output: &Path) -> PathBuf {
    output.with_extension("csv")
}

/// The files a job's output consists of.
pub fn files(format: Format, output: &Path) -> Vec<PathBuf> {
    match format {
        Format::Png => vec![output.to_path_buf(), table_path(output)],
        _ => vec![output.to_path_buf()],
    }
}

/// Whether a job's output is complete (a rerun skips it).
pub fn is_complete(format: Format, output: &Path) -> bool {
    match format {
        Format::SamJson | Format::Coco => std::fs::read(output)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v.is_array()),
        Format::Png => read_table(&table_path(output)).is_ok() && is_gray16_png(output),
        Format::Npz => npz_contents(output).is_ok_and(|(names, masks)| {
            NPZ_ARRAYS.iter().all(|a| names.iter().any(|n| n == a))
                && masks.descr == "|b1"
                && masks.shape.len() == 3
        }),
    }
}

/// Writes one image's records (`width × height`) as `format`.
pub fn write(
    format: Format,
    output: &Path,
    records: &[MaskRecord],
    (width, height): (u32, u32),
    mode: OutputMode,
) -> anyhow::Result<()> {
    if let Some(parent) = output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let cannot = || format!("cannot write {}", output.display());
    match format {
        Format::SamJson | Format::Coco => {
            let sam: Vec<SamRecord> = records.iter().map(|r| r.to_sam_record(mode)).collect();
            samkit_outfile::write_bytes(output, &serde_json::to_vec(&sam)?).with_context(cannot)
        }
        Format::Png => write_png(output, records, width, height),
        Format::Npz => {
            let masks: Vec<&CocoRle> = records.iter().map(|r| &r.rle).collect();
            write_masks_npz(output, width, height, &masks, &npz_columns(records))
                .with_context(cannot)
        }
    }
}

/// The fields of SAM's records (what sam-json writes, less the segmentation).
fn fields(records: &[MaskRecord]) -> Vec<SamRecord> {
    records
        .iter()
        .map(|r| {
            let mut s = r.to_sam_record(OutputMode::UncompressedRle);
            s.segmentation = samkit_auto::Segmentation::Binary(Vec::new());
            s
        })
        .collect()
}

fn npz_columns(records: &[MaskRecord]) -> Vec<(&'static str, NpzColumn)> {
    let sam = fields(records);
    let n = sam.len();
    let f64s = |v: Vec<f64>| NpzColumn::F64(Array1::from(v).into_dyn());
    let rows = |v: Vec<f64>, cols: usize| {
        NpzColumn::F64(
            Array2::from_shape_vec((n, cols), v)
                .expect("n rows of cols values")
                .into_dyn(),
        )
    };
    vec![
        (
            "area",
            NpzColumn::I64(Array1::from_iter(sam.iter().map(|s| s.area as i64)).into_dyn()),
        ),
        (
            "bbox",
            rows(
                sam.iter().flat_map(|s| s.bbox.map(|v| v as f64)).collect(),
                4,
            ),
        ),
        (
            "predicted_iou",
            f64s(sam.iter().map(|s| s.predicted_iou).collect()),
        ),
        (
            "point_coords",
            rows(sam.iter().flat_map(|s| s.point_coords[0]).collect(), 2),
        ),
        (
            "stability_score",
            f64s(sam.iter().map(|s| s.stability_score).collect()),
        ),
        (
            "crop_box",
            rows(
                sam.iter().flat_map(|s| s.crop_box.map(f64::from)).collect(),
                4,
            ),
        ),
    ]
}

/// A float as Python's `str` writes it (amg.py's `str(x)`): shortest round trip, `1.0`
/// not `1`, `nan`.
fn py_float(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v == f64::INFINITY {
        "inf".into()
    } else if v == f64::NEG_INFINITY {
        "-inf".into()
    } else {
        format!("{v:?}")
    }
}

/// The table of `--format png`: the header, then one row per record, id 1, 2, ...
pub fn table(records: &[MaskRecord]) -> String {
    let mut out = format!("{CSV_HEADER}\n");
    for (k, s) in fields(records).iter().enumerate() {
        let [bx, by, bw, bh] = s.bbox;
        let [px, py] = s.point_coords[0];
        let [cx, cy, cw, ch] = s.crop_box;
        out.push_str(&format!(
            "{},{},{bx},{by},{bw},{bh},{},{},{},{},{cx},{cy},{cw},{ch}\n",
            k + 1,
            s.area,
            py_float(px),
            py_float(py),
            py_float(s.predicted_iou),
            py_float(s.stability_score),
        ));
    }
    out
}

fn write_png(output: &Path, records: &[MaskRecord], width: u32, height: u32) -> anyhow::Result<()> {
    anyhow::ensure!(
        records.len() <= MAX_INSTANCES,
        "{} masks do not fit a 16-bit instance map (at most {MAX_INSTANCES}): use \
         --format npz or sam-json for this image, or raise --pred-iou-thresh",
        records.len()
    );
    let masks: Vec<&CocoRle> = records.iter().map(|r| &r.rle).collect();
    let map = instance_map(&masks, width, height)?;
    // The old map goes first, so a run cut short between the two files leaves an
    // incomplete output, never a new table beside an old map.
    match std::fs::remove_file(output) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            return Err(e).with_context(|| format!("cannot replace {}", output.display()));
        }
        _ => {}
    }
    let csv = table_path(output);
    samkit_outfile::write_bytes(&csv, table(records).as_bytes())
        .with_context(|| format!("cannot write {}", csv.display()))?;
    samkit_formats::png_export::write_gray16_png(output, width, height, &map)
        .with_context(|| format!("cannot write {}", output.display()))
}

/// The number of rows of a png output's table, checked: the header, then rows of 14
/// fields with ids 1, 2, ... in order.
fn read_table(path: &Path) -> anyhow::Result<usize> {
    let len = std::fs::metadata(path)?.len();
    anyhow::ensure!(
        len <= MAX_TABLE_BYTES,
        "{} is {len} bytes, more than a table of {MAX_INSTANCES} masks",
        path.display()
    );
    let text = std::fs::read_to_string(path)?;
    let mut lines = text.lines();
    anyhow::ensure!(
        lines.next() == Some(CSV_HEADER),
        "{} does not start with the header {CSV_HEADER}",
        path.display()
    );
    let mut n = 0;
    for (k, line) in lines.enumerate() {
        let id = line.split(',').next().and_then(|v| v.parse::<usize>().ok());
        anyhow::ensure!(
            line.split(',').count() == 14 && id == Some(k + 1),
            "{}: line {} is not row {} of the table",
            path.display(),
            k + 2,
            k + 1
        );
        n = k + 1;
    }
    Ok(n)
}

fn is_gray16_png(path: &Path) -> bool {
    use image::ImageDecoder;
    std::fs::File::open(path)
        .ok()
        .and_then(|f| image::codecs::png::PngDecoder::new(std::io::BufReader::new(f)).ok())
        .is_some_and(|d| d.color_type() == image::ColorType::L16)
}

/// The masks of a complete output, in record order, each checked against `budget`:
/// the RLEs of sam-json (not its binary_mask mode), the visible part of each mask of a
/// png instance map, the masks of an npz.
pub fn masks_of(
    format: Format,
    output: &Path,
    budget: PixelBudget,
) -> anyhow::Result<Vec<CocoRle>> {
    match format {
        Format::SamJson | Format::Coco => {
            let values: Vec<serde_json::Value> = serde_json::from_slice(&std::fs::read(output)?)?;
            values
                .into_iter()
                .map(|mut v| {
                    let rle: CocoRle = serde_json::from_value(v["segmentation"].take())?;
                    budget.check(rle.width(), rle.height())?;
                    Ok(rle)
                })
                .collect::<anyhow::Result<Vec<_>>>()
                .context("its output holds no RLE (binary_mask output: rerun with --force)")
        }
        Format::Png => {
            let count = read_table(&table_path(output))?;
            let mut reader = image::ImageReader::open(output)?.with_guessed_format()?;
            reader.limits(budget.image_limits());
            let (w, h) = reader.into_dimensions()?;
            budget.check(w, h)?;
            let mut reader = image::ImageReader::open(output)?.with_guessed_format()?;
            reader.limits(budget.image_limits());
            let map = reader.decode()?.into_luma16();
            Ok(masks_from_instance_map(map.as_raw(), w, h, count)?)
        }
        Format::Npz => Ok(read_npz_masks(output, budget, MAX_INSTANCES.max(1 << 20))?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use samkit_auto::CropBox;
    use samkit_formats::Mask;

    fn records() -> Vec<MaskRecord> {
        let rec = |m: Mask, bbox: [i64; 4], iou: f32| MaskRecord {
            rle: CocoRle::encode(&m),
            bbox,
            predicted_iou: iou,
            point: [1.5, 0.25],
            stability_score: 1.0,
            crop_box: CropBox {
                x0: 0,
                y0: 0,
                x1: 4,
                y1: 3,
            },
        };
        vec![
            rec(
                Mask::from_fn(4, 3, |x, y| x == 0 && y < 2).unwrap(),
                [0, 0, 0, 1],
                0.9,
            ),
            rec(
                Mask::from_fn(4, 3, |x, _| x < 2).unwrap(),
                [0, 0, 1, 2],
                0.95,
            ),
        ]
    }

    #[test]
    fn each_format_is_complete_once_written_and_gives_its_masks_back() {
        let d = tempfile::tempdir().unwrap();
        let recs = records();
        let budget = PixelBudget::DEFAULT;
        for (format, ext) in [
            (Format::SamJson, "json"),
            (Format::Png, "png"),
            (Format::Npz, "npz"),
        ] {
            let out = d.path().join(format!("sub/a.{ext}"));
            assert!(!is_complete(format, &out));
            write(format, &out, &recs, (4, 3), OutputMode::CocoRle).unwrap();
            assert!(is_complete(format, &out), "{format:?}");
            let back = masks_of(format, &out, budget).unwrap();
            assert_eq!(back.len(), 2, "{format:?}");
            // The larger second mask is painted first: in the map the first keeps all
            // its pixels and the second shows the rest.
            assert_eq!(back[0], recs[0].rle, "{format:?}");
            let second = if format == Format::Png { 4 } else { 6 };
            assert_eq!(back[1].area(), second, "{format:?}");
            let err = masks_of(format, &out, PixelBudget::new(11)).unwrap_err();
            assert!(
                format!("{err:#}").contains("--max-pixels"),
                "{format:?}: {err:#}"
            );
        }
        let png = d.path().join("sub/a.png");
        let map = image::open(&png).unwrap().into_luma16();
        assert_eq!(map.as_raw(), &[1, 2, 0, 0, 1, 2, 0, 0, 2, 2, 0, 0]);
        // A table without its map, or a map without its table, is not complete.
        std::fs::remove_file(&png).unwrap();
        assert!(!is_complete(Format::Png, &png));
        write(Format::Png, &png, &recs, (4, 3), OutputMode::CocoRle).unwrap();
        std::fs::write(table_path(&png), format!("{CSV_HEADER}\n2,1\n")).unwrap();
        assert!(!is_complete(Format::Png, &png));
        // An 8-bit PNG in its place is not ours.
        write(Format::Png, &png, &recs, (4, 3), OutputMode::CocoRle).unwrap();
        image::GrayImage::new(4, 3).save(&png).unwrap();
        assert!(!is_complete(Format::Png, &png));
        // An npz without one of the arrays is not complete.
        let npz = d.path().join("b.npz");
        let masks: Vec<&CocoRle> = recs.iter().map(|r| &r.rle).collect();
        write_masks_npz(&npz, 4, 3, &masks, &npz_columns(&recs)[1..]).unwrap();
        assert!(!is_complete(Format::Npz, &npz));
    }

    #[test]
    fn the_table_has_amgs_columns_and_python_floats() {
        let t = table(&records());
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], CSV_HEADER);
        assert_eq!(
            lines[1],
            format!("1,2,0,0,0,1,1.5,0.25,{},1.0,0,0,4,3", f64::from(0.9f32))
        );
        assert!(lines[2].starts_with("2,6,0,0,1,2,"), "{}", lines[2]);
        assert_eq!(py_float(f64::NAN), "nan");
        assert_eq!(py_float(2.0), "2.0");
    }

    #[test]
    fn more_masks_than_a_16_bit_map_holds_are_refused() {
        let d = tempfile::tempdir().unwrap();
        let one = records().remove(0);
        let many = vec![one; MAX_INSTANCES + 1];
        let out = d.path().join("a.png");
        let err = write(Format::Png, &out, &many, (4, 3), OutputMode::CocoRle).unwrap_err();
        assert!(format!("{err:#}").contains("65535"), "{err:#}");
        assert!(!out.exists() && !table_path(&out).exists());
    }
}
