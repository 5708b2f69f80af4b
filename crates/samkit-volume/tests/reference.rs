//! The reader against pydicom and nibabel: files written by `make_volumes.py`, values
//! compared with those libraries' reading of the same files.

use std::path::{Path, PathBuf};
use std::process::Command;

use samkit_volume::{read_volume, PixelBudget, VolumeError, Window, WindowChoice};
use serde_json::Value;

fn make_volumes() -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/make_volumes.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "make_volumes.py failed (pip install -r requirements-test.txt installs pydicom and \
         nibabel):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reference = std::fs::read(dir.path().join("reference.json")).unwrap();
    (dir, serde_json::from_slice(&reference).unwrap())
}

fn numbers(v: &Value) -> Vec<f64> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect()
}

fn assert_values(got: &[f32], want: &[f64], what: &str) {
    assert_eq!(got.len(), want.len(), "{what}: number of values");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (*g as f64 - w).abs() <= 1e-4 * w.abs().max(1.0),
            "{what}: value {i} is {g}, the reference reads {w}"
        );
    }
}

fn file(dir: &tempfile::TempDir, name: &str) -> PathBuf {
    dir.path().join(name)
}

#[test]
fn dicom_and_nifti_read_as_pydicom_and_nibabel_read_them() {
    let (dir, reference) = make_volumes();
    let budget = PixelBudget::DEFAULT;

    // CT: rescaled to Hounsfield units; the file's window, applied as pydicom does.
    let ct = read_volume(&file(&dir, "ct.dcm"), budget).unwrap();
    assert_eq!((ct.width, ct.height, ct.depth, ct.channels), (64, 48, 1, 1));
    assert_values(&ct.values, &numbers(&reference["ct"]["values"]), "CT");
    let window = ct.window_for(0, &WindowChoice::default()).unwrap();
    assert_eq!(
        window,
        Window {
            center: 40.0,
            width: 400.0
        }
    );
    let grey = ct.slice_rgb(0, window).unwrap();
    let want = numbers(&reference["ct"]["grey"]);
    for (i, (px, w)) in grey.pixels().zip(&want).enumerate() {
        assert!(
            (px.0[0] as f64 - w).abs() <= 1.0,
            "CT grey {i}: {} against pydicom's {w}",
            px.0[0]
        );
        assert_eq!(px.0[0], px.0[1]);
    }

    // MONOCHROME1: values as stored, shown inverted.
    let mono1 = read_volume(&file(&dir, "mono1.dcm"), budget).unwrap();
    assert!(mono1.inverted && mono1.file_window.is_none());
    assert_values(
        &mono1.values,
        &numbers(&reference["mono1"]["values"]),
        "MONO1",
    );
    let w = Window::new(2000.0, 4000.0).unwrap();
    let img = mono1.slice_rgb(0, w).unwrap();
    assert_eq!(img.get_pixel(0, 0).0[0], 255 - w.apply(mono1.values[0]));

    // Multi-frame: one slice per frame.
    let multi = read_volume(&file(&dir, "multi.dcm"), budget).unwrap();
    assert_eq!((multi.width, multi.height, multi.depth), (10, 8, 3));
    assert_values(
        &multi.values,
        &numbers(&reference["multi"]["values"]),
        "frames",
    );
    assert_eq!(multi.slice(2).unwrap()[0], multi.values[160]);
    assert!(multi.slice(3).is_none());

    // RGB: three channels, as stored.
    let rgb = read_volume(&file(&dir, "rgb.dcm"), budget).unwrap();
    assert_eq!((rgb.width, rgb.height, rgb.channels), (5, 6, 3));
    assert_values(&rgb.values, &numbers(&reference["rgb"]["values"]), "RGB");

    // NIfTI: scl_slope/scl_inter applied; [k][j][i] = data[i, j, k].
    let nifti = read_volume(&file(&dir, "volume.nii.gz"), budget).unwrap();
    assert_eq!((nifti.width, nifti.height, nifti.depth), (20, 16, 5));
    assert_values(
        &nifti.values,
        &numbers(&reference["nifti"]["values"]),
        "NIfTI",
    );
    assert!(nifti.notes.is_empty());

    // A series folder: slices in position order, whatever the names and numbers say.
    let series = read_volume(&file(&dir, "series"), budget).unwrap();
    assert_eq!((series.width, series.height, series.depth), (7, 6, 4));
    assert_values(
        &series.values,
        &numbers(&reference["series"]["values"]),
        "series",
    );
    assert_eq!(
        samkit_volume::volume_size(&file(&dir, "series"), budget).unwrap(),
        (7, 6, 4)
    );

    // 4-D: the first volume, and a note saying so.
    let four = read_volume(&file(&dir, "four-d.nii"), budget).unwrap();
    assert_eq!(four.depth, 5);
    assert_values(
        &four.values,
        &numbers(&reference["four_d"]["values"]),
        "4-D",
    );
    assert!(
        four.notes[0].contains("first 3-D volume"),
        "{:?}",
        four.notes
    );
}

#[test]
fn bad_files_get_one_clear_error_naming_the_file() {
    let (dir, _) = make_volumes();
    let budget = PixelBudget::DEFAULT;
    let message = |name: &str| {
        let path = file(&dir, name);
        let e = read_volume(&path, budget).unwrap_err().to_string();
        assert!(e.contains(name), "the error names the file: {e}");
        e
    };
    assert!(message("no-pixels.dcm").contains("no pixel data"));
    let j2k = message("jpeg2000.dcm");
    assert!(
        j2k.contains("1.2.840.10008.1.2.4.90") && j2k.contains("gdcmconv"),
        "{j2k}"
    );
    assert!(message("broken.nii").contains("NIfTI"));
    let mixed = message("mixed");
    assert!(
        mixed.contains("mixed sizes") && mixed.contains("b.dcm"),
        "{mixed}"
    );

    // Sizes are checked before decoding: 20×16×5 = 1600 voxels over a 1000 budget.
    let small = PixelBudget::new(1000);
    match read_volume(&file(&dir, "volume.nii.gz"), small) {
        Err(VolumeError::OverBudget { dims, .. }) => assert_eq!(dims, [20, 16, 5]),
        other => panic!("expected over-budget, got {other:?}"),
    }
    assert!(matches!(
        read_volume(&file(&dir, "multi.dcm"), PixelBudget::new(200)),
        Err(VolumeError::OverBudget { .. })
    ));
    let text = file(&dir, "reference.json");
    assert!(matches!(
        read_volume(&text, budget),
        Err(VolumeError::NotAVolume { .. })
    ));
}

#[test]
fn tiff_stacks_read_as_tifffile_reads_them() {
    let (dir, reference) = make_volumes();
    let budget = PixelBudget::DEFAULT;
    let shape = |name: &str| -> Vec<u64> {
        reference[name]["shape"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect()
    };

    // 16-bit grey, deflate-compressed: every page a slice, values as stored.
    let path = file(&dir, "stack16.tif");
    assert!(samkit_volume::is_volume_file(&path));
    assert_eq!(
        samkit_volume::volume_size(&path, budget).unwrap(),
        (50, 40, 3)
    );
    let stack = read_volume(&path, budget).unwrap();
    assert_eq!(stack.kind, samkit_volume::VolumeKind::TiffStack);
    assert_eq!(shape("stack16.tif"), [3, 40, 50]);
    assert_eq!(
        (stack.width, stack.height, stack.depth, stack.channels),
        (50, 40, 3, 1)
    );
    assert_values(
        &stack.values,
        &numbers(&reference["stack16.tif"]["values"]),
        "stack16",
    );
    // No window in the file: the percentile range, which ignores the hot pixel of slice 1.
    assert!(stack.file_window.is_none());
    let window = stack.window_for(1, &WindowChoice::default()).unwrap();
    let grey = stack.slice_rgb(1, window).unwrap();
    let darkest = grey.pixels().map(|p| p.0[0]).min().unwrap();
    let brightest_but_hot = grey
        .enumerate_pixels()
        .filter(|(x, y, _)| (*x, *y) != (5, 4))
        .map(|(_, _, p)| p.0[0])
        .max()
        .unwrap();
    assert!(
        darkest <= 2 && brightest_but_hot >= 240,
        "{darkest} {brightest_but_hot}"
    );
    assert!(stack.slice(3).is_none());

    // 8-bit RGB pages: shown as they are (the identity window).
    let rgb = read_volume(&file(&dir, "rgb-stack.tiff"), budget).unwrap();
    assert_eq!(
        (rgb.width, rgb.height, rgb.depth, rgb.channels),
        (7, 6, 2, 3)
    );
    assert_values(
        &rgb.values,
        &numbers(&reference["rgb-stack.tiff"]["values"]),
        "RGB stack",
    );
    let window = rgb.window_for(1, &WindowChoice::default()).unwrap();
    let shown = rgb.slice_rgb(1, window).unwrap();
    let stored: Vec<u8> = rgb.slice(1).unwrap().iter().map(|&v| v as u8).collect();
    assert_eq!(shown.as_raw(), &stored);

    // Float pages.
    let float = read_volume(&file(&dir, "float-stack.tif"), budget).unwrap();
    assert_eq!((float.width, float.height, float.depth), (6, 5, 4));
    assert_values(
        &float.values,
        &numbers(&reference["float-stack.tif"]["values"]),
        "float stack",
    );

    // One page is an image for the `image` crate, not a volume.
    assert!(!samkit_volume::is_volume_file(&file(
        &dir,
        "one-page16.tif"
    )));

    // Pages of two sizes: refused, naming the file, the page and what to do.
    let two = file(&dir, "two-sizes.tif");
    let e = read_volume(&two, budget).unwrap_err().to_string();
    assert!(
        e.contains("two-sizes.tif") && e.contains("page 1") && e.contains("alike"),
        "{e}"
    );
    // The budget covers every page: 50×40×3 = 6000 voxels over 5000.
    assert!(matches!(
        read_volume(&path, PixelBudget::new(5000)),
        Err(VolumeError::OverBudget {
            dims: [50, 40, 3],
            ..
        })
    ));
}

/// A label volume of a DICOM series carries the patient geometry NIfTI converters derive
/// (compared with nibabel's DICOM wrapper of the first slice, turned into NIfTI's
/// column, row, slice order in RAS), in both the sform and the qform, read back by
/// nibabel; one slice alone gets the same in-plane geometry.
#[test]
fn dicom_label_volumes_carry_the_patient_geometry() {
    let (dir, reference) = make_volumes();
    let want: Vec<f64> = reference["oblique_affine"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(numbers)
        .collect();
    let series = file(&dir, "oblique");
    let affine = samkit_volume::dicom_affine(&series).unwrap().unwrap();
    let got: Vec<f64> = affine.iter().flatten().copied().collect();
    assert_values(
        &got.iter().map(|v| *v as f32).collect::<Vec<_>>(),
        &want,
        "series affine",
    );
    let out = dir.path().join("labels.nii.gz");
    let geometry =
        samkit_volume::write_label_volume(&series, (6, 5, 3), &[0u16; 90], &out).unwrap();
    assert_eq!(geometry, samkit_volume::LabelGeometry::FromDicom);
    let script = r#"
import json, sys
import nibabel as nib
img = nib.load(sys.argv[1])
print(json.dumps({"affine": img.affine.tolist(), "qform": img.get_qform().tolist(),
                  "codes": [int(img.header["sform_code"]), int(img.header["qform_code"])],
                  "shape": list(img.shape)}))
"#;
    let o = Command::new("python3")
        .args(["-c", script])
        .arg(&out)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["shape"], serde_json::json!([6, 5, 3]));
    assert_eq!(v["codes"], serde_json::json!([1, 1]), "scanner coordinates");
    for key in ["affine", "qform"] {
        let read: Vec<f64> = v[key]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(numbers)
            .collect();
        for (i, (r, w)) in read.iter().zip(&want).enumerate() {
            assert!(
                (r - w).abs() < 1e-3,
                "{key}[{i}]: nibabel reads {r}, want {w}"
            );
        }
    }
    // One slice of the series (the first): the same geometry, the step from the slice
    // spacing along the normal (row × column, the direction the series' slices go).
    let single = samkit_volume::dicom_affine(&series.join("y.dcm"))
        .unwrap()
        .unwrap();
    for (i, (g, w)) in single.iter().flatten().zip(&want).enumerate() {
        assert!((g - w).abs() < 1e-6, "single slice [{i}]: {g} vs {w}");
    }
    // Without geometry (the plain series has no Pixel Spacing): voxel units.
    assert_eq!(
        samkit_volume::dicom_affine(&file(&dir, "series")).unwrap(),
        None
    );
}
