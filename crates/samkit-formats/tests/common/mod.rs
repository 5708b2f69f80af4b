//! Helpers shared by the integration tests that call Python.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

pub const INSTALL_HINT: &str = "pip install -r requirements-test.txt (from the repository root)";

/// `crates/samkit-formats/tests/py/check_coco.py`.
pub fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/py/check_coco.py")
}

/// Runs the check script; fails the test with the install hint when python3 or a
/// module is missing, and with the script's output when a check fails.
pub fn run_python(args: &[&Path]) -> String {
    let out = Command::new("python3")
        .arg(script())
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 ({e}); install Python 3 and run: {INSTALL_HINT}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => stdout,
        Some(3) => panic!("{stdout}{stderr}\nPython test dependencies are missing: {INSTALL_HINT}"),
        _ => panic!("python check failed:\n{stdout}\n{stderr}"),
    }
}

/// The GrabCut masks of the reference data (`$SAMKIT_TEST_DATA/grabcut/masks`), or `None`
/// when they are absent (the skip is recorded; see `samkit-testdata`).
pub fn grabcut_masks(suite: &str) -> Option<PathBuf> {
    samkit_testdata::reference_data(suite, "grabcut/masks")
}
