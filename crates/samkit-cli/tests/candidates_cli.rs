//! The decoder choice on the command line, with the real default model: `segment
//! --candidates/--all-out` (every candidate, its files and figures), `--decoder-backend`,
//! the warning when the native decoder cannot read a decoder file, and `bench`'s
//! native-against-ONNX figures. Images are drawn here or bundled in `samples/`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn samkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_samkit"))
        .args(args)
        .output()
        .expect("run samkit")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

fn json(o: &Output) -> Value {
    assert!(o.status.success(), "{}", stderr(o));
    serde_json::from_slice(&o.stdout).expect("JSON on stdout")
}

/// A red disk on a striped background (as in `segment_cli.rs`).
fn disk(dir: &Path) -> PathBuf {
    let (cx, cy, r) = (150.0f32, 110.0f32, 60.0f32);
    let img = image::RgbImage::from_fn(320, 240, |x, y| {
        if (x as f32 - cx).powi(2) + (y as f32 - cy).powi(2) <= r * r {
            image::Rgb([200, 40, 30])
        } else {
            let v = if (x + y) / 12 % 2 == 0 { 70 } else { 110 };
            image::Rgb([v, v + 20, v + 60])
        }
    });
    let path = dir.join("disk.png");
    img.save(&path).unwrap();
    path
}

fn mask_of(path: &Path) -> Vec<bool> {
    image::open(path)
        .unwrap()
        .to_luma8()
        .into_raw()
        .into_iter()
        .map(|v| v > 127)
        .collect()
}

fn area(mask: &[bool]) -> u64 {
    mask.iter().filter(|&&m| m).count() as u64
}

#[test]
fn segment_lists_and_writes_every_candidate() {
    let dir = tempfile::tempdir().unwrap();
    let image = disk(dir.path());
    let out = dir.path().join("m.png");
    let all = dir.path().join("all/of/them");
    let v = json(&samkit(&[
        "segment",
        image.to_str().unwrap(),
        "--point",
        "150,110",
        "--out",
        out.to_str().unwrap(),
        "--candidates",
        "--all-out",
        all.to_str().unwrap(),
        "--json",
    ]));
    assert_eq!(v["decoder"], "native");
    let cands = v["candidates"].as_array().unwrap();
    let tokens: Vec<u64> = cands.iter().map(|c| c["token"].as_u64().unwrap()).collect();
    assert_eq!(tokens, [0, 1, 2, 3], "{v}");
    let selected = v["selected"].as_u64().unwrap() as usize;
    let flagged: Vec<usize> = (0..4).filter(|&i| cands[i]["selected"] == true).collect();
    assert_eq!(flagged, [selected]);
    // One click: SAM's rule takes the multimask output with the best predicted IoU.
    let iou = |i: usize| cands[i]["predicted_iou"].as_f64().unwrap();
    assert!(selected >= 1);
    assert!((1..4).all(|i| iou(i) <= iou(selected)), "{v}");
    assert_eq!(v["predicted_iou"], cands[selected]["predicted_iou"]);

    let out_mask = mask_of(&out);
    for (i, c) in cands.iter().enumerate() {
        let file = PathBuf::from(c["file"].as_str().unwrap());
        assert_eq!(file, all.join(format!("candidate-{i}.png")));
        let m = mask_of(&file);
        // The report describes the file that was written.
        assert_eq!(c["area"].as_u64().unwrap(), area(&m), "candidate {i}");
        let s = c["stability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&s), "{s}");
        if i == selected {
            assert_eq!(m, out_mask, "--out holds the selected candidate");
            assert_eq!(v["area"], c["area"]);
            assert_eq!(v["bbox"], c["bbox"]);
        }
    }

    // The same as text: one row per token, the selected one marked.
    let o = samkit(&[
        "segment",
        image.to_str().unwrap(),
        "--point",
        "150,110",
        "--out",
        out.to_str().unwrap(),
        "--candidates",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout);
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("(multi)") || l.contains("(single)"))
        .collect();
    assert_eq!(rows.len(), 4, "{text}");
    let marked: Vec<&&str> = rows
        .iter()
        .filter(|l| l.trim_start().starts_with('*'))
        .collect();
    assert_eq!(marked.len(), 1, "{text}");
    assert!(marked[0].contains(&format!("{selected} (multi)")), "{text}");
    assert!(text.contains("bbox x,y,w,h"), "{text}");
}

#[test]
fn onnx_backend_gives_the_same_mask_with_fewer_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let image = disk(dir.path());
    let run = |backend: &str, out: &Path| {
        json(&samkit(&[
            "segment",
            image.to_str().unwrap(),
            "--point",
            "150,110",
            "--out",
            out.to_str().unwrap(),
            "--candidates",
            "--decoder-backend",
            backend,
            "--json",
        ]))
    };
    let (native_out, onnx_out) = (dir.path().join("n.png"), dir.path().join("o.png"));
    let native = run("native", &native_out);
    let onnx = run("onnx", &onnx_out);
    assert_eq!(onnx["decoder"], "onnx");
    // ONNX Runtime: its selection (token unknown) and, for a lone click, the single-mask output.
    let tokens: Vec<&Value> = onnx["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["token"])
        .collect();
    assert_eq!(tokens, [&Value::Null, &serde_json::json!(0)]);
    assert_eq!(onnx["selected"], 0);
    let (a, b) = (mask_of(&native_out), mask_of(&onnx_out));
    let inter = a.iter().zip(&b).filter(|(x, y)| **x && **y).count() as f64;
    let union = a.iter().zip(&b).filter(|(x, y)| **x || **y).count() as f64;
    assert!(
        inter / union >= 0.999,
        "native vs onnx IoU {}",
        inter / union
    );
    let diff =
        (native["predicted_iou"].as_f64().unwrap() - onnx["predicted_iou"].as_f64().unwrap()).abs();
    assert!(diff < 1e-3, "{native} {onnx}");
}

/// Replaces every occurrence of `from` by `to` (same length) in `bytes`; how many.
fn replace_all(bytes: &mut [u8], from: &[u8], to: &[u8]) -> usize {
    assert_eq!(from.len(), to.len());
    let mut n = 0;
    let mut i = 0;
    while i + from.len() <= bytes.len() {
        if &bytes[i..i + from.len()] == from {
            bytes[i..i + from.len()].copy_from_slice(to);
            n += 1;
            i += from.len();
        } else {
            i += 1;
        }
    }
    n
}

/// The default decoder file with one LayerNorm weight renamed, and the nodes of its
/// module too (same lengths, every reference alike, so the protobuf stays valid and ONNX
/// Runtime still runs it): the native decoder finds that weight neither by name nor by
/// the node that consumes it.
fn decoder_missing_a_weight(dir: &Path) -> (PathBuf, PathBuf) {
    let setup = json(&samkit(&["setup", "--json"]));
    let encoder = PathBuf::from(setup["encoder"].as_str().unwrap());
    let decoder = PathBuf::from(setup["decoder"].as_str().unwrap());
    let mut bytes = std::fs::read(&decoder).unwrap();
    let weight = replace_all(
        &mut bytes,
        b"transformer.layers.0.norm1.weight",
        b"transformer.layers.0.norm1.wEIGHT",
    );
    let nodes = replace_all(&mut bytes, b"layers.0/norm1/", b"layers.0/normX/");
    assert!(
        weight >= 1 && nodes >= 1,
        "the default decoder's names changed"
    );
    let broken = dir.join("renamed.onnx");
    std::fs::write(&broken, bytes).unwrap();
    (encoder, broken)
}

#[test]
fn a_decoder_the_native_code_cannot_read_runs_on_onnx_with_one_warning() {
    let dir = tempfile::tempdir().unwrap();
    let image = disk(dir.path());
    let (encoder, broken) = decoder_missing_a_weight(dir.path());
    let out = dir.path().join("m.png");
    let o = samkit(&[
        "segment",
        image.to_str().unwrap(),
        "--point",
        "150,110",
        "--out",
        out.to_str().unwrap(),
        "--encoder",
        encoder.to_str().unwrap(),
        "--decoder",
        broken.to_str().unwrap(),
        "--json",
    ]);
    let v = json(&o);
    assert_eq!(v["decoder"], "onnx");
    let err = stderr(&o);
    let warnings: Vec<&str> = err.lines().filter(|l| l.starts_with("warning:")).collect();
    assert_eq!(warnings.len(), 1, "{err}");
    assert!(
        warnings[0].contains("renamed.onnx")
            && warnings[0].contains("layers.0.norm1.weight")
            && warnings[0].contains("ONNX Runtime"),
        "{err}"
    );
    assert!(area(&mask_of(&out)) > 0);

    // Asking for ONNX Runtime outright: nothing to warn about.
    let o = samkit(&[
        "segment",
        image.to_str().unwrap(),
        "--point",
        "150,110",
        "--out",
        out.to_str().unwrap(),
        "--encoder",
        encoder.to_str().unwrap(),
        "--decoder",
        broken.to_str().unwrap(),
        "--decoder-backend",
        "onnx",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!stderr(&o).contains("warning:"), "{}", stderr(&o));
}

#[test]
fn bench_reports_both_decoders_from_one_run() {
    let image = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/chelsea.png");
    let v = json(&samkit(&[
        "bench",
        "--image",
        image.to_str().unwrap(),
        "--runs",
        "1",
        "--warmup",
        "0",
        "--json",
    ]));
    for key in [
        "decoder_native_ms",
        "decoder_onnx_ms",
        "decoder_native_batch_ms_per_prompt",
    ] {
        let ms = v[key].as_f64().unwrap_or_else(|| panic!("{key} in {v}"));
        assert!(ms > 0.0 && ms.is_finite(), "{key} = {ms}");
    }
    assert_eq!(v["decoder_threads"], 1);
    assert_eq!(v["decoder_batch_size"], 64);
    let rounds = v["decoder_rounds"].as_u64().unwrap() as usize;
    for key in ["decoder_native", "decoder_onnx"] {
        assert_eq!(
            v["samples_ms"][key].as_array().unwrap().len(),
            rounds,
            "{key}"
        );
    }
}

#[test]
fn eval_records_its_strategy_and_refuses_to_resume_another() {
    let dir = tempfile::tempdir().unwrap();
    let (images, masks) = (dir.path().join("images"), dir.path().join("masks"));
    std::fs::create_dir_all(&images).unwrap();
    std::fs::create_dir_all(&masks).unwrap();
    let image = disk(dir.path());
    std::fs::copy(&image, images.join("disk.png")).unwrap();
    let gt = image::GrayImage::from_fn(320, 240, |x, y| {
        let inside = (x as f32 - 150.0).powi(2) + (y as f32 - 110.0).powi(2) <= 3600.0;
        image::Luma([if inside { 255 } else { 0 }])
    });
    gt.save(masks.join("disk.png")).unwrap();
    let out = dir.path().join("run.json");
    let eval = |strategy: &str, resume: bool| {
        let mut args = vec![
            "eval",
            "--images",
            images.to_str().unwrap(),
            "--masks",
            masks.to_str().unwrap(),
            "--max-clicks",
            "3",
            "--threads",
            "1",
            "--strategy",
            strategy,
            "--json",
            out.to_str().unwrap(),
        ];
        if resume {
            args.push("--resume");
        }
        samkit(&args)
    };
    let o = eval("best-iou", false);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("strategy best-iou"));
    let summary: Value = serde_json::from_slice(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(summary["strategy"], "best-iou");
    assert_eq!(summary["decoder"], "native");
    let o = eval("sam", true);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("strategy best-iou"), "{}", stderr(&o));
}
