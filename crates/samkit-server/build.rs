//! Embeds every file of `ui/` (the browser UI, no front-end build step) and of the
//! workspace's `samples/` (the `samkit demo` photos) into the binary: writes
//! `$OUT_DIR/ui_files.rs` and `$OUT_DIR/sample_files.rs`, tables of `(name, bytes)`.

use std::path::Path;

fn table(dir: &Path, static_name: &str, out_file: &str) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') && !n.ends_with('~'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut code = format!("pub static {static_name}: &[(&str, &[u8])] = &[\n");
    for n in &names {
        let path = dir.join(n);
        println!("cargo:rerun-if-changed={}", path.display());
        code.push_str(&format!(
            "    ({n:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join(out_file);
    std::fs::write(out, code).expect("write the embedded file table");
}

fn main() {
    // Read at run time, not baked in with env!(): a build script binary is reused for
    // a checkout at another path (same package hash), which must embed its own files.
    let here = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let here = Path::new(&here);
    table(&here.join("ui"), "UI_FILES", "ui_files.rs");
    table(
        &here.join("../../samples"),
        "SAMPLE_FILES",
        "sample_files.rs",
    );
}
