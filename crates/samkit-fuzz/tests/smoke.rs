//! The CI smoke pass of the fuzz targets: every target runs on its committed seeds
//! (`fuzz/corpus/<target>/`), its kept crash inputs (`fuzz/regressions/<target>/`) and
//! `SAMKIT_FUZZ_SMOKE_RUNS` (default 5000) deterministic mutations of them. A panic names
//! the target and the input, and leaves the input in the temporary folder to replay with
//! `cargo fuzz run <target> <file>` or this test.

use samkit_fuzz::mutate::{mutate, Rng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn files(dir: &Path) -> Vec<Vec<u8>> {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut paths: Vec<PathBuf> = rd.flatten().map(|e| e.path()).collect();
    paths.sort();
    paths
        .iter()
        .filter(|p| p.is_file())
        .map(|p| std::fs::read(p).unwrap())
        .collect()
}

fn runs() -> usize {
    std::env::var("SAMKIT_FUZZ_SMOKE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000)
}

fn smoke(name: &str) {
    let body = samkit_fuzz::TARGETS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, f)| *f)
        .unwrap();
    let seeds = files(&fuzz_dir().join("corpus").join(name));
    assert!(!seeds.is_empty(), "no seeds in fuzz/corpus/{name}");
    let regressions = files(&fuzz_dir().join("regressions").join(name));
    let mut rng = Rng::new(name.bytes().map(u64::from).sum());
    let fixed = seeds.iter().chain(&regressions).cloned();
    let mutated = (0..runs()).map(|_| {
        let a = &seeds[rng.below(seeds.len())];
        let b = &seeds[rng.below(seeds.len())];
        mutate(&mut rng, a, b)
    });
    for (i, input) in fixed.chain(mutated.collect::<Vec<_>>()).enumerate() {
        if catch_unwind(AssertUnwindSafe(|| body(&input))).is_err() {
            let keep = std::env::temp_dir().join(format!("samkit-fuzz-smoke-{name}-{i}"));
            std::fs::write(&keep, &input).unwrap();
            panic!(
                "fuzz target {name} panicked on input #{i} ({} bytes), kept in {}",
                input.len(),
                keep.display()
            );
        }
    }
}

#[test]
fn coco_json() {
    smoke("coco_json");
}

#[test]
fn rle() {
    smoke("rle");
}

#[test]
fn yolo_labels() {
    smoke("yolo_labels");
}

#[test]
fn zip_import() {
    smoke("zip_import");
}

#[test]
fn image_decode() {
    smoke("image_decode");
}

#[test]
fn api_body() {
    smoke("api_body");
}

#[test]
fn every_target_has_a_smoke_test_and_a_cargo_fuzz_binary() {
    let this = include_str!("smoke.rs");
    for (name, _) in samkit_fuzz::TARGETS {
        assert!(
            this.contains(&format!("fn {name}()")),
            "no smoke test for {name}"
        );
        assert!(
            fuzz_dir()
                .join("fuzz_targets")
                .join(format!("{name}.rs"))
                .is_file(),
            "no fuzz/fuzz_targets/{name}.rs"
        );
    }
}
