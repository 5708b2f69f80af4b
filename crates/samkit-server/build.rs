//! Embeds every file of `ui/` into the binary (no front-end build step): writes
//! `$OUT_DIR/ui_files.rs`, a table of `(name, bytes)`.

use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("ui");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().map(|t| t.is_file()).unwrap_or(false))
                .filter_map(|e| e.file_name().into_string().ok())
                .filter(|n| !n.starts_with('.') && !n.ends_with('~'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let mut code = String::from("pub static UI_FILES: &[(&str, &[u8])] = &[\n");
    for n in &names {
        println!("cargo:rerun-if-changed={}", dir.join(n).display());
        code.push_str(&format!(
            "    ({n:?}, include_bytes!({:?})),\n",
            dir.join(n).display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("ui_files.rs");
    std::fs::write(out, code).expect("write ui_files.rs");
}
