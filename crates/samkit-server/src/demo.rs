//! The bundled demo photos (`samples/` of the workspace, embedded at build time).

use std::path::Path;

include!(concat!(env!("OUT_DIR"), "/sample_files.rs"));

/// Writes the bundled samples into `dir` (created if needed), keeping files that are
/// already there. Returns how many were written.
pub fn write_samples(dir: &Path) -> std::io::Result<usize> {
    std::fs::create_dir_all(dir)?;
    let mut n = 0;
    for (name, bytes) in SAMPLE_FILES {
        let path = dir.join(name);
        if !path.exists() {
            std::fs::write(&path, bytes)?;
            n += 1;
        }
    }
    Ok(n)
}

/// Names of the bundled sample images (the licence note excluded).
pub fn sample_names() -> Vec<&'static str> {
    SAMPLE_FILES
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| crate::scan::is_image_name(std::path::Path::new(n)))
        .collect()
}
