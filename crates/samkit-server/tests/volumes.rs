//! DICOM, NIfTI and TIFF-stack files in a project folder (written by pydicom, nibabel
//! and tifffile, `samkit-volume/tests/make_volumes.py`): a volume is listed as one image
//! per slice (`file#z=N`), each shown as the engine's windowed slice and segmented on
//! its own slice; a broken file is listed as skipped with the reason.

mod common;

use std::path::Path;
use std::process::Command;

use common::start;

fn volume_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let script =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../samkit-volume/tests/make_volumes.py");
    let out = Command::new("python3")
        .arg(&script)
        .arg(dir.path())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "make_volumes.py failed (pip install -r requirements-test.txt):\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir
}

#[tokio::test]
async fn volumes_are_listed_slice_by_slice_and_shown_windowed() {
    let dir = volume_project();
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), None, cache.path()).await;
    let c = &s.client;

    let imgs = c.get("/api/images").await.unwrap().json();
    let listed: Vec<(String, i64, i64)> = imgs["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["name"].as_str().unwrap().to_string(),
                i["width"].as_i64().unwrap(),
                i["height"].as_i64().unwrap(),
            )
        })
        .collect();
    for want in [
        ("ct.dcm", 64, 48),
        ("sphere.nii.gz#z=4", 96, 80),
        ("volume.nii.gz#z=0", 20, 16),
        ("volume.nii.gz#z=4", 20, 16),
        ("multi.dcm#z=2", 10, 8),
        ("stack16.tif#z=1", 50, 40),
        ("one-page16.tif", 50, 40),
        // A folder of one DICOM series is a volume; one of two sizes is walked.
        ("series#z=3", 7, 6),
        ("mixed/a.dcm", 7, 6),
        ("mixed/b.dcm", 8, 8),
    ] {
        assert!(
            listed.contains(&(want.0.to_string(), want.1, want.2)),
            "{want:?} not in {listed:?}"
        );
    }
    let p = c.get("/api/project").await.unwrap().json();
    let broken = p["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["path"] == "broken.nii")
        .unwrap_or_else(|| panic!("broken.nii is not listed as skipped: {p}"));
    assert!(
        broken["reason"].as_str().unwrap().contains("NIfTI"),
        "{broken}"
    );

    // `/file` of a DICOM is a PNG of exactly what the engine encodes.
    let id = imgs["images"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == "ct.dcm")
        .unwrap()["id"]
        .as_i64()
        .unwrap();
    let f = c.get(&format!("/api/images/{id}/file")).await.unwrap();
    assert_eq!(
        (f.status, f.header("content-type")),
        (200, Some("image/png"))
    );
    let shown = image::load_from_memory(&f.body).unwrap().to_rgb8();
    let engine = samkit_engine::load_rgb_within(
        &dir.path().join("ct.dcm"),
        samkit_engine::PixelBudget::DEFAULT,
    )
    .unwrap();
    assert_eq!(shown, engine);

    // A volume is one image per slice, in slice order, and nothing else.
    let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
    let of = |file: &str| -> Vec<&str> {
        names
            .iter()
            .copied()
            .filter(|n| samkit_engine::split_slice_name(n).0 == file)
            .collect()
    };
    assert_eq!(
        of("volume.nii.gz"),
        (0..5)
            .map(|z| format!("volume.nii.gz#z={z}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(of("sphere.nii.gz").len(), 9);
    assert_eq!(of("ct.dcm"), ["ct.dcm"], "one slice: the file itself");

    // `/file` and `/thumb` of a slice show that slice (and differ between slices).
    let id_of = |name: &str| {
        imgs["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let path = dir.path().join("volume.nii.gz");
    let mut shown_slices = Vec::new();
    for z in [1u32, 3] {
        let f = c
            .get(&format!(
                "/api/images/{}/file",
                id_of(&format!("volume.nii.gz#z={z}"))
            ))
            .await
            .unwrap();
        assert_eq!(f.status, 200);
        let shown = image::load_from_memory(&f.body).unwrap().to_rgb8();
        let options = samkit_engine::ReadOptions {
            window: None,
            slice: Some(z),
        };
        let engine =
            samkit_engine::load_rgb_with(&path, samkit_engine::PixelBudget::DEFAULT, &options)
                .unwrap();
        assert_eq!(shown, engine, "slice {z}");
        shown_slices.push(shown);
        let t = c
            .get(&format!(
                "/api/images/{}/thumb",
                id_of(&format!("volume.nii.gz#z={z}"))
            ))
            .await
            .unwrap();
        assert_eq!(t.status, 200);
    }
    assert_ne!(shown_slices[0], shown_slices[1]);
    assert_eq!(of("series").len(), 4);
    let f = c
        .get(&format!("/api/images/{}/file", id_of("series#z=2")))
        .await
        .unwrap();
    assert_eq!(f.status, 200);
    let options = samkit_engine::ReadOptions {
        window: None,
        slice: Some(2),
    };
    let engine = samkit_engine::load_rgb_with(
        &dir.path().join("series"),
        samkit_engine::PixelBudget::DEFAULT,
        &options,
    )
    .unwrap();
    assert_eq!(image::load_from_memory(&f.body).unwrap().to_rgb8(), engine);
}

/// The sphere (radius 18 voxels, slices 4 voxels apart, centre slice 4): a click on the
/// centre of each slice segments that slice's disc, whose radius shrinks away from it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_slice_is_segmented_on_its_own_pixels() {
    let dir = volume_project();
    // Only the sphere: the model encodes every listed image.
    for entry in std::fs::read_dir(dir.path()).unwrap().flatten() {
        if entry.file_name() != "sphere.nii.gz" {
            let p = entry.path();
            if p.is_dir() {
                std::fs::remove_dir_all(p).unwrap();
            } else {
                std::fs::remove_file(p).unwrap();
            }
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = &s.client;
    let t = std::time::Instant::now();
    while c.get("/api/embeddings").await.unwrap().json()["model"]["state"] != "ready" {
        assert!(t.elapsed().as_secs() < 300, "the model did not load");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let imgs = c.get("/api/images").await.unwrap().json();
    // Slice 8 is beyond the encoder's prefetch window: asked for, encoded, answered.
    for z in [4u32, 2, 1, 8] {
        let name = format!("sphere.nii.gz#z={z}");
        let id = imgs["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name.as_str())
            .unwrap()["id"]
            .as_i64()
            .unwrap();
        let r = c
            .post(
                &format!("/api/images/{id}/predict"),
                &serde_json::json!({"points": [{"x": 48, "y": 40, "label": "positive"}],
                    "wait_ms": 60000}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let best = r.json()["candidates"][0].clone();
        let radius = (18.0f64.powi(2) - (4.0 * (f64::from(z) - 4.0)).powi(2)).sqrt();
        let disc = std::f64::consts::PI * radius * radius;
        let area = best["area"].as_f64().unwrap();
        assert!(
            (area - disc).abs() < 0.2 * disc,
            "slice {z}: mask area {area}, the disc's {disc:.0} ({best})"
        );
        let bbox: Vec<f64> = best["bbox"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let want = [48.0 - radius, 40.0 - radius, 2.0 * radius, 2.0 * radius];
        for (g, w) in bbox.iter().zip(want) {
            assert!(
                (g - w).abs() <= 3.0,
                "slice {z}: bbox {bbox:?}, the disc's {want:?}"
            );
        }
    }
    s.task.abort();
}

/// Masks drawn on two slices of `volume.nii.gz` (20 × 16 × 5, voxel sizes 0.8/0.8/2.5)
/// come back as one NIfTI label volume that nibabel reads with the source's shape and
/// affine, each mask on its own slice with its category's (or instance's) value.
#[tokio::test]
async fn nifti_export_stacks_slice_masks_on_the_source_geometry() {
    let dir = volume_project();
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), None, cache.path()).await;
    let c = &s.client;
    let imgs = c.get("/api/images").await.unwrap().json();
    let id_of = |name: &str| {
        imgs["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["name"] == name)
            .unwrap()["id"]
            .as_i64()
            .unwrap()
    };
    let mut cats = Vec::new();
    for name in ["organ", "lesion"] {
        let r = c
            .post("/api/categories", &serde_json::json!({ "name": name }))
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
        cats.push(r.json()["id"].as_i64().unwrap());
    }
    let all = c.get("/api/categories").await.unwrap().json();
    let position = |id: i64| {
        all["categories"]
            .as_array()
            .unwrap()
            .iter()
            .position(|c| c["id"] == id)
            .unwrap() as u16
            + 1
    };
    // (slice, category, column-major run start, run length) on a 16-row × 20-column slice.
    let drawn = [
        (1u32, cats[0], 40u32, 30u32),
        (3, cats[1], 100, 12),
        (3, cats[0], 200, 20),
    ];
    for (z, cat, start_px, n) in drawn {
        let r = c
            .post(
                &format!(
                    "/api/images/{}/instances",
                    id_of(&format!("volume.nii.gz#z={z}"))
                ),
                &serde_json::json!({"category_id": cat, "rle": common::rle(16, 20, start_px, n)}),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    }

    for (format, per_instance) in [("nifti", false), ("nifti-instances", true)] {
        let r = c
            .get(&format!("/api/export?format={format}"))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let out = tempfile::tempdir().unwrap();
        let zip = out.path().join("export.zip");
        std::fs::write(&zip, &r.body).unwrap();
        // nibabel reads the label volume and the source; the test compares them.
        let script = r#"
import json, sys, zipfile
import nibabel as nib, numpy as np
out, src = sys.argv[1], sys.argv[2]
zipfile.ZipFile(out + "/export.zip").extractall(out + "/x")
lab, ref = nib.load(out + "/x/volume.nii.gz"), nib.load(src)
data = np.asarray(lab.dataobj)
print(json.dumps({
    "shape": list(data.shape), "dtype": str(data.dtype),
    "same_affine": bool(np.allclose(lab.affine, ref.affine)),
    "zooms": [float(z) for z in lab.header.get_zooms()],
    "slices": [data[:, :, k].T.ravel().tolist() for k in range(data.shape[2])],
    "legend": json.load(open(out + "/x/labels.json")),
}))
"#;
        let o = Command::new("python3")
            .args(["-c", script])
            .arg(out.path())
            .arg(dir.path().join("volume.nii.gz"))
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(v["shape"], serde_json::json!([20, 16, 5]), "{format}");
        assert_eq!(v["dtype"], "uint16");
        assert_eq!(v["same_affine"], true, "{format}: the source's affine");
        assert_eq!(
            v["zooms"],
            serde_json::json!([0.8f32 as f64, 0.8f32 as f64, 2.5])
        );
        // Expected slices, row-major (row j, column i), from the drawn runs.
        let mut want = vec![vec![0u64; 16 * 20]; 5];
        for (k, (z, cat, start_px, n)) in drawn.iter().enumerate() {
            let value = if per_instance {
                // Instances numbered in slice order: slice 1's, then slice 3's two.
                k as u64 + 1
            } else {
                u64::from(position(*cat))
            };
            for p in *start_px..start_px + n {
                let (col, row) = (p / 16, p % 16);
                want[*z as usize][(row * 20 + col) as usize] = value;
            }
        }
        for (z, w) in want.iter().enumerate() {
            let got: Vec<u64> = v["slices"][z]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap())
                .collect();
            assert_eq!(&got, w, "{format}: slice {z}");
        }
        let legend = &v["legend"];
        let entry = legend["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["source"] == "volume.nii.gz")
            .unwrap();
        assert_eq!(entry["labels"], "volume.nii.gz");
        assert_eq!(
            entry["slices_in_export"],
            serde_json::json!([0, 1, 2, 3, 4])
        );
        if per_instance {
            assert_eq!(entry["values"].as_array().unwrap().len(), 3);
        } else {
            let names: Vec<&str> = legend["categories"]
                .as_array()
                .unwrap()
                .iter()
                .map(|c| c["name"].as_str().unwrap())
                .collect();
            assert_eq!(names[0], "background");
            assert_eq!(names[position(cats[1]) as usize], "lesion");
        }
    }
    s.task.abort();
}
