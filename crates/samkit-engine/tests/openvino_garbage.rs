//! A file of junk given as the OpenVINO library: an error naming the file, no panic.
//! (One process can try to load OpenVINO only once, hence a test file of its own.)

#[test]
fn junk_is_refused_with_the_path_and_the_way_out() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("libopenvino_c.so");
    std::fs::write(&junk, b"not a library at all").unwrap();
    let err = samkit_engine::init_openvino(&junk).unwrap_err().to_string();
    assert!(err.contains("libopenvino_c.so"), "{err}");
    assert!(err.contains("--openvino-lib"), "{err}");
    assert!(samkit_engine::openvino_version().is_none());
}
