//! The typed errors of the crate. Messages are written for the end user: each one says what
//! went wrong and what to do about it. An underlying cause is exposed as `source()`, not
//! repeated in the message, so an error chain (`{:#}` with anyhow) prints it once.

use std::path::PathBuf;

/// How to proceed without the automatic download; appended to fetch errors.
pub const MANUAL_ALTERNATIVE: &str = "alternatively, provide the files yourself: \
    `--encoder PATH --decoder PATH` (or a model registered with `samkit models add`) for the model, \
    and `--ort-lib PATH` or the environment variable ORT_DYLIB_PATH for the ONNX Runtime shared library";

/// Everything that can go wrong while locating, fetching, verifying or registering assets.
#[derive(Debug, thiserror::Error)]
pub enum AssetsError {
    /// Neither `$SAMKIT_HOME` nor a user cache directory is available.
    #[error(
        "cannot determine the samkit cache directory: set SAMKIT_HOME to a writable directory"
    )]
    NoHome,

    /// An external program (npm, pip) could not be started; `tool` says what was tried.
    #[error(
        "{tool} was not found; it is needed to {purpose}. Install it, or {MANUAL_ALTERNATIVE}"
    )]
    ToolMissing { tool: String, purpose: String },

    /// An external program ran and failed (offline, unknown package, ...).
    #[error("`{command}` failed ({status}); are you online?\n{output}\n{MANUAL_ALTERNATIVE}")]
    CommandFailed {
        command: String,
        status: String,
        output: String,
    },

    /// The fetched download did not produce the file it should have.
    #[error("`{command}` succeeded but produced no `{expected}` in {dir}")]
    DownloadMissing {
        command: String,
        expected: String,
        dir: PathBuf,
    },

    /// A file's content does not match its pinned (or recorded) sha256.
    #[error(
        "checksum mismatch for {}: expected sha256 {expected}, got {actual}; {hint}",
        file.display()
    )]
    ChecksumMismatch {
        file: PathBuf,
        expected: String,
        actual: String,
        hint: String,
    },

    /// An archive lacks an entry it should contain, or cannot be read.
    #[error("archive {}: {message}", archive.display())]
    Archive { archive: PathBuf, message: String },

    /// The pinned ONNX Runtime build exists only for x86_64 Linux.
    #[error(
        "no pinned ONNX Runtime library for {os}/{arch} (only x86_64 Linux is pinned); \
         download ONNX Runtime for your platform from https://github.com/microsoft/onnxruntime/releases \
         and pass the shared library with `--ort-lib PATH` or ORT_DYLIB_PATH"
    )]
    UnsupportedPlatform { os: String, arch: String },

    /// The pinned OpenVINO build exists only for x86_64 Linux.
    #[error(
        "no pinned OpenVINO build for {os}/{arch} (only x86_64 Linux is pinned); \
         pass an OpenVINO C library with `--openvino-lib PATH`, or use `--encoder-backend onnxruntime`"
    )]
    NoPinnedOpenVino { os: String, arch: String },

    /// The OpenVINO download failed less than a day ago; commands do not retry it.
    #[error(
        "OpenVINO could not be downloaded earlier ({reason}); not retried for a day: \
         `samkit setup` tries again now (or delete {})", marker.display()
    )]
    OpenVinoRecentlyFailed { marker: PathBuf, reason: String },

    /// A path given by the user (flag or environment) does not exist.
    #[error("{origin} points to {}, which does not exist or is not a file", path.display())]
    MissingFile { origin: String, path: PathBuf },

    /// `--encoder` was given without `--decoder`, or the reverse.
    #[error("`--encoder` and `--decoder` must be given together")]
    IncompletePair,

    /// An I/O error on a given path.
    #[error("{}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// A file could not be written (see `samkit-outfile` for the rule).
    #[error(transparent)]
    Write(#[from] samkit_outfile::WriteError),

    /// The registry file exists but is not valid.
    #[error("model registry {} is not valid JSON; fix or delete it", path.display())]
    RegistryCorrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },

    /// A model name that cannot be used.
    #[error("invalid model name `{name}`: {reason}")]
    InvalidName { name: String, reason: String },

    /// `models add` of a name already taken, without `--force`.
    #[error("a model named `{0}` is already registered; use `--force` to replace it")]
    ModelExists(String),

    /// `--model NAME` or `models remove NAME` of a name that is not registered.
    #[error("no model named `{name}`; known models: {known}")]
    UnknownModel { name: String, known: String },

    /// A registered model's file changed since `models add`.
    #[error(
        "the {role} of model `{name}` ({}) changed since it was registered (sha256 was {expected}, now {actual}); \
         re-register it with `samkit models add {name} --encoder ... --decoder ... --force`",
        path.display()
    )]
    ModelChanged {
        name: String,
        role: &'static str,
        path: PathBuf,
        expected: String,
        actual: String,
    },

    /// The caller's validator (the engine's graph check) rejected the model pair.
    #[error("model `{name}` failed validation")]
    Validation {
        name: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl AssetsError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AssetsError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the crate.
pub type Result<T, E = AssetsError> = std::result::Result<T, E>;
