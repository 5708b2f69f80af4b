//! `samkit convert` end to end: typed errors naming file and annotation, `--skip-invalid`.

use std::process::Command;

fn samkit() -> Command {
    Command::new(env!("CARGO_BIN_EXE_samkit"))
}

#[test]
fn convert_reports_and_skips_invalid_annotations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let input = dir.path().join("in.json");
    std::fs::write(
        &input,
        r#"{"images":[{"id":1,"file_name":"a.png","width":4,"height":3}],
            "categories":[{"id":1,"name":"thing"}],
            "annotations":[
              {"id":1,"image_id":1,"category_id":1,"segmentation":{"size":[3,4],"counts":[3,3,6]}},
              {"id":2,"image_id":1,"category_id":1,"segmentation":{"size":[3,4],"counts":[3,3]}}]}"#,
    )
    .expect("write");
    let out = dir.path().join("out");
    let fail = samkit()
        .args(["convert", "--to", "numpy", "--out"])
        .arg(&out)
        .arg(&input)
        .output()
        .expect("run samkit");
    assert!(!fail.status.success());
    let err = String::from_utf8_lossy(&fail.stderr);
    assert!(
        err.contains("in.json") && err.contains("annotation 2") && err.contains("sum"),
        "{err}"
    );

    let ok = samkit()
        .args([
            "convert",
            "--skip-invalid",
            "--to",
            "coco",
            "--mask-format",
            "polygon",
            "--out",
        ])
        .arg(out.join("coco.json"))
        .arg(&input)
        .output()
        .expect("run samkit");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(String::from_utf8_lossy(&ok.stderr).contains("skipped: "));
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("coco.json")).expect("output"))
            .expect("json");
    assert_eq!(doc["annotations"].as_array().map(Vec::len), Some(1));
    assert!(doc["annotations"][0]["segmentation"].is_array());
}
