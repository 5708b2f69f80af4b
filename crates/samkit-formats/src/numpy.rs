//! NumPy export via `ndarray-npy`. Layout under the output folder:
//!
//! * `masks/<stem>_<id>.npy` — `bool`, shape `(H, W)`, one per instance;
//! * `instances/<stem>.npy` — `uint16`, shape `(H, W)`, 0 = background, `k` = k-th
//!   instance of the image (as the PNG instance map);
//! * `<stem>.npz` — `masks` `bool (N, H, W)`, `class_ids` `int64 (N,)` (category ids),
//!   `instance_ids` `int64 (N,)`.
//!
//! [`write_masks_npz`] writes one image's masks (RLE) as a `bool (N, H, W)` array plus
//! any other columns, streaming the masks into the compressed archive one at a time
//! (`samkit auto --format npz`); [`npz_contents`] and [`read_npz_masks`] read such a file
//! back without holding the N × H × W array.

use crate::maps::instance_map;
use crate::model::{stem, AnnotationSet};
use crate::png_export::mkdir;
use crate::write::{write_npy, write_with};
use crate::{FormatError, Problem};
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::NpzWriter;
use samkit_mask::{CocoRle, Mask, PixelBudget};
use std::path::Path;

pub fn export_numpy(
    set: &AnnotationSet,
    out: &Path,
    progress: &mut dyn FnMut(usize, usize),
) -> Result<(), FormatError> {
    set.validate(out)?;
    mkdir(&out.join("masks"))?;
    mkdir(&out.join("instances"))?;
    let groups = set.by_image();
    let total = groups.len();
    for (done, (img, insts)) in groups.into_iter().enumerate() {
        let s = stem(&img.file_name);
        let (h, w) = (img.height as usize, img.width as usize);
        let mut stack = Array3::<bool>::from_elem((insts.len(), h, w), false);
        for (k, inst) in insts.iter().enumerate() {
            let m = inst.mask.decode();
            let arr =
                Array2::from_shape_vec((h, w), m.as_slice().iter().map(|&v| v != 0).collect())
                    .map_err(|e| FormatError::write(out, e))?;
            stack.index_axis_mut(ndarray::Axis(0), k).assign(&arr);
            let path = out.join("masks").join(format!("{s}_{}.npy", inst.id));
            write_npy(&path, &arr)?;
        }
        let map = Array2::from_shape_vec((h, w), instance_map(img, &insts))
            .map_err(|e| FormatError::write(out, e))?;
        let path = out.join("instances").join(format!("{s}.npy"));
        write_npy(&path, &map)?;
        let path = out.join(format!("{s}.npz"));
        // A zip needs to seek: build it in memory (it is compressed), then write it.
        let mut npz = NpzWriter::new_compressed(std::io::Cursor::new(Vec::new()));
        let class_ids: Array1<i64> = insts.iter().map(|i| i.category_id as i64).collect();
        let ids: Array1<i64> = insts.iter().map(|i| i.id as i64).collect();
        npz.add_array("masks", &stack)
            .map_err(|e| FormatError::write(&path, e))?;
        npz.add_array("class_ids", &class_ids)
            .map_err(|e| FormatError::write(&path, e))?;
        npz.add_array("instance_ids", &ids)
            .map_err(|e| FormatError::write(&path, e))?;
        let bytes = npz
            .finish()
            .map_err(|e| FormatError::write(&path, e))?
            .into_inner();
        write_with(&path, |w| w.write_all(&bytes))?;
        progress(done + 1, total);
    }
    Ok(())
}

/// A small array written into an `.npz` beside its masks (`float64` or `int64`).
#[derive(Debug, Clone, PartialEq)]
pub enum NpzColumn {
    F64(ndarray::ArrayD<f64>),
    I64(ndarray::ArrayD<i64>),
}

/// The NumPy dtype of a boolean array as numpy writes it.
const BOOL_DESCR: &str = "|b1";

/// The most bytes of an `.npy` header read back (numpy's own are under 1 KiB).
const MAX_NPY_HEADER: usize = 1 << 16;

/// Writes `path` as a compressed `.npz` holding `masks` — `bool (N, height, width)`,
/// streamed one decoded mask at a time, so only the compressed archive is held in
/// memory, never the N × H × W array — then `columns`, each under its name. With no
/// masks the array is `(0, height, width)`. A mask of another size is an error.
pub fn write_masks_npz(
    path: &Path,
    width: u32,
    height: u32,
    masks: &[&CocoRle],
    columns: &[(&str, NpzColumn)],
) -> Result<(), FormatError> {
    use ndarray_npy::WriteNpyExt;
    use std::io::Write;
    let (w, h) = (width as usize, height as usize);
    if let Some(bad) = masks
        .iter()
        .find(|m| (m.width(), m.height()) != (width, height))
    {
        return Err(FormatError::invalid(
            path,
            None,
            Problem::SizeMismatch {
                mask_width: bad.width(),
                mask_height: bad.height(),
                image_width: width,
                image_height: height,
            },
        ));
    }
    let zip_err = |e: zip::result::ZipError| FormatError::write(path, e);
    let io_err = |e: std::io::Error| FormatError::io(path, e);
    let header = npy_header(BOOL_DESCR, &[masks.len(), h, w]);
    let size = header.len() as u64 + masks.len() as u64 * (w * h) as u64;
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let mut npz = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    npz.start_file(
        "masks.npy",
        deflated.large_file(size >= u64::from(u32::MAX)),
    )
    .map_err(zip_err)?;
    npz.write_all(&header).map_err(io_err)?;
    for m in masks {
        let pixels = m.decode().into_raw();
        npz.write_all(&pixels).map_err(io_err)?;
    }
    for (name, column) in columns {
        npz.start_file(format!("{name}.npy"), deflated)
            .map_err(zip_err)?;
        match column {
            NpzColumn::F64(a) => a.write_npy(&mut npz),
            NpzColumn::I64(a) => a.write_npy(&mut npz),
        }
        .map_err(|e| FormatError::write(path, e))?;
    }
    let bytes = npz.finish().map_err(zip_err)?.into_inner();
    write_with(path, |out| out.write_all(&bytes))
}

/// An `.npy` v1.0 header for a C-order array, padded to 64 bytes as numpy pads it.
fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}").into_bytes();
    let pad = (64 - (10 + dict.len() + 1) % 64) % 64;
    dict.extend(std::iter::repeat_n(b' ', pad));
    dict.push(b'\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((dict.len() as u16).to_le_bytes());
    out.extend(dict);
    out
}

/// An `.npy` header read back: dtype, C or Fortran order, shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// Reads an `.npy` header (versions 1 to 3) from the start of `r`, leaving `r` at the
/// data; any malformed or oversized header is an error message.
fn read_npy_header(r: &mut impl std::io::Read) -> Result<NpyHeader, String> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic).map_err(|e| e.to_string())?;
    if &magic[..6] != b"\x93NUMPY" {
        return Err("not an .npy array (no \\x93NUMPY magic)".into());
    }
    let len = match magic[6] {
        1 => {
            let mut b = [0u8; 2];
            r.read_exact(&mut b).map_err(|e| e.to_string())?;
            usize::from(u16::from_le_bytes(b))
        }
        2 | 3 => {
            let mut b = [0u8; 4];
            r.read_exact(&mut b).map_err(|e| e.to_string())?;
            u32::from_le_bytes(b) as usize
        }
        v => return Err(format!(".npy version {v} is not one numpy writes")),
    };
    if len > MAX_NPY_HEADER {
        return Err(format!(
            "an .npy header of {len} bytes (numpy's are under 1 KiB)"
        ));
    }
    let mut text = vec![0u8; len];
    r.read_exact(&mut text).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&text);
    let value = |key: &str| {
        let at = text.find(&format!("'{key}':"))? + key.len() + 3;
        Some(text[at..].trim_start())
    };
    let descr = value("descr")
        .and_then(|v| v.strip_prefix('\''))
        .and_then(|v| v.split('\'').next())
        .ok_or("the .npy header has no 'descr'")?
        .to_string();
    let fortran_order = value("fortran_order")
        .map(|v| v.starts_with("True"))
        .ok_or("the .npy header has no 'fortran_order'")?;
    let shape = value("shape")
        .and_then(|v| v.strip_prefix('('))
        .and_then(|v| v.split(')').next())
        .ok_or("the .npy header has no 'shape'")?
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<usize>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| "the .npy header's shape is not a tuple of sizes")?;
    Ok(NpyHeader {
        descr,
        fortran_order,
        shape,
    })
}

fn open_npz(path: &Path) -> Result<zip::ZipArchive<std::fs::File>, FormatError> {
    let file = std::fs::File::open(path).map_err(|e| FormatError::io(path, e))?;
    zip::ZipArchive::new(file).map_err(|e| FormatError::write(path, format!("not an .npz: {e}")))
}

/// The names of the arrays in an `.npz` (entries without their `.npy`), and the header
/// of its `masks` array: reads the zip's directory and one header, no data.
pub fn npz_contents(path: &Path) -> Result<(Vec<String>, NpyHeader), FormatError> {
    let mut npz = open_npz(path)?;
    let names = npz
        .file_names()
        .map(|n| n.strip_suffix(".npy").unwrap_or(n).to_string())
        .collect();
    let mut masks = npz
        .by_name("masks.npy")
        .map_err(|e| FormatError::write(path, format!("no `masks` array: {e}")))?;
    let header = read_npy_header(&mut masks).map_err(|e| FormatError::write(path, e))?;
    Ok((names, header))
}

/// The `masks` of an `.npz` as [`write_masks_npz`] writes it (`bool (N, H, W)`, C
/// order), one RLE per mask, reading one mask at a time. Its `H × W` is checked
/// against `budget` and `N` against `max_masks` before anything is allocated.
pub fn read_npz_masks(
    path: &Path,
    budget: PixelBudget,
    max_masks: usize,
) -> Result<Vec<CocoRle>, FormatError> {
    use std::io::Read;
    let mut npz = open_npz(path)?;
    let mut entry = npz
        .by_name("masks.npy")
        .map_err(|e| FormatError::write(path, format!("no `masks` array: {e}")))?;
    let header = read_npy_header(&mut entry).map_err(|e| FormatError::write(path, e))?;
    let bad = |why: String| FormatError::write(path, format!("`masks` {why}"));
    let [n, h, w] = header.shape[..] else {
        return Err(bad(format!("has shape {:?}, not (N, H, W)", header.shape)));
    };
    if header.descr != BOOL_DESCR || header.fortran_order {
        return Err(bad(format!(
            "is {}{}, not a C-order bool array",
            header.descr,
            if header.fortran_order {
                " in Fortran order"
            } else {
                ""
            }
        )));
    }
    if n > max_masks {
        return Err(bad(format!("holds {n} masks, more than {max_masks}")));
    }
    let (width, height) = match (u32::try_from(w), u32::try_from(h)) {
        (Ok(w), Ok(h)) => (w, h),
        _ => return Err(bad(format!("has masks of {w}x{h}"))),
    };
    budget
        .check(width, height)
        .map_err(|p| FormatError::invalid(path, None, p))?;
    let mut rles = Vec::with_capacity(n);
    let mut pixels = vec![0u8; w * h];
    for _ in 0..n {
        entry
            .read_exact(&mut pixels)
            .map_err(|e| FormatError::io(path, e))?;
        let mask = Mask::from_raw(width, height, pixels)
            .map_err(|p| FormatError::invalid(path, None, p))?;
        rles.push(CocoRle::encode(&mask));
        pixels = mask.into_raw();
    }
    Ok(rles)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray_npy::NpzReader;

    fn rle(f: impl Fn(u32, u32) -> bool) -> CocoRle {
        CocoRle::encode(&Mask::from_fn(5, 3, f).unwrap())
    }

    #[test]
    fn streamed_masks_read_back_by_ndarray_npy_and_by_us() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("a.npz");
        let (a, b) = (rle(|x, y| x < 2 && y > 0), rle(|x, _| x == 4));
        let area = NpzColumn::I64(Array1::from(vec![4i64, 3]).into_dyn());
        let boxes = NpzColumn::F64(Array2::from_elem((2, 4), 1.5).into_dyn());
        write_masks_npz(&path, 5, 3, &[&a, &b], &[("area", area), ("bbox", boxes)]).unwrap();
        let mut npz = NpzReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let masks: Array3<bool> = npz.by_name("masks").unwrap();
        assert_eq!(masks.shape(), [2, 3, 5]);
        assert!(masks[[0, 1, 1]] && !masks[[0, 0, 1]] && masks[[1, 2, 4]] && !masks[[1, 2, 3]]);
        let areas: Array1<i64> = npz.by_name("area").unwrap();
        assert_eq!(areas.to_vec(), [4, 3]);
        let bbox: Array2<f64> = npz.by_name("bbox").unwrap();
        assert_eq!(bbox.shape(), [2, 4]);
        assert_eq!(
            read_npz_masks(&path, PixelBudget::DEFAULT, 2).unwrap(),
            vec![a.clone(), b.clone()]
        );
        let (names, header) = npz_contents(&path).unwrap();
        assert_eq!(names, ["masks", "area", "bbox"]);
        assert_eq!(header.shape, [2, 3, 5]);
        // Budgets before allocation: too many masks, too many pixels.
        let e = read_npz_masks(&path, PixelBudget::DEFAULT, 1).unwrap_err();
        assert!(e.to_string().contains("more than 1"), "{e}");
        let e = read_npz_masks(&path, PixelBudget::new(14), 2).unwrap_err();
        assert!(e.to_string().contains("--max-pixels"), "{e}");
        // Masks of another size are refused.
        let other = CocoRle::encode(&Mask::new(2, 2).unwrap());
        assert!(write_masks_npz(&path, 5, 3, &[&other], &[]).is_err());
    }

    #[test]
    fn no_masks_is_a_0_by_h_by_w_array() {
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("empty.npz");
        write_masks_npz(&path, 5, 3, &[], &[]).unwrap();
        let mut npz = NpzReader::new(std::fs::File::open(&path).unwrap()).unwrap();
        let masks: Array3<bool> = npz.by_name("masks").unwrap();
        assert_eq!(masks.shape(), [0, 3, 5]);
        assert!(read_npz_masks(&path, PixelBudget::DEFAULT, 0)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn headers_are_numpys_and_hostile_ones_are_errors() {
        let h = npy_header(BOOL_DESCR, &[2, 3, 5]);
        assert_eq!(h.len() % 64, 0);
        let back = read_npy_header(&mut h.as_slice()).unwrap();
        assert_eq!(
            back,
            NpyHeader {
                descr: "|b1".into(),
                fortran_order: false,
                shape: vec![2, 3, 5]
            }
        );
        let one = read_npy_header(&mut npy_header("<f8", &[7]).as_slice()).unwrap();
        assert_eq!(one.shape, [7]);
        for bad in [
            b"\x93NUMPY\x01\x00\x05\x00{'de".to_vec(),
            b"PK\x03\x04xxxxxxxx".to_vec(),
            b"\x93NUMPY\x02\x00\xff\xff\xff\x7f".to_vec(),
            b"\x93NUMPY\x01\x00\x20\x00{'descr': '|b1', 'shape': (x,)} ".to_vec(),
        ] {
            assert!(read_npy_header(&mut bad.as_slice()).is_err(), "{bad:?}");
        }
    }
}
