//! `samkit-outfile`: the one way samkit writes an output file (masks, overlays,
//! exports, reports, registry files).
//!
//! It is a crate of its own because every layer writes files — `samkit-assets`,
//! `samkit-formats`, `samkit-eval`, `samkit-server` and the CLI — and none of them is
//! below all the others; the rule must be the same everywhere, so it lives once,
//! beneath them all, depending only on `tempfile`.
//!
//! The rule, by what the path names:
//! * a regular file, or nothing yet: written **atomically** — a temporary file in the
//!   target's real folder (symlinks resolved first), synced, then renamed over the
//!   real target. A failed or interrupted write leaves the old file untouched, and
//!   `--out link.png` updates the link's target and keeps the link;
//! * a FIFO or a character device (`/dev/stdout`, `/dev/null`, a pipe): opened for
//!   writing and written **directly**, never truncated or replaced by a regular file;
//! * a path reached through `/proc` or `/dev/fd` (e.g. `/dev/stdout` redirected to a
//!   file): written directly too, since its "real path" is another process' view;
//! * a folder, block device or socket: refused with an error naming what it is.
//!
//! New files get mode `0o666` minus the umask, like other tools; a replaced file
//! keeps its mode.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why an output could not be written. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("cannot write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write {}: it is a folder", path.display())]
    IsFolder { path: PathBuf },
    #[error("cannot write {}: folder {} does not exist", path.display(), folder.display())]
    NoFolder { path: PathBuf, folder: PathBuf },
    #[error("cannot write {}: it is a {kind}; outputs go to regular files, FIFOs or character devices such as /dev/stdout", path.display())]
    Unsupported { path: PathBuf, kind: &'static str },
    #[error("cannot write {}: more than 40 levels of symbolic links", path.display())]
    LinkLoop { path: PathBuf },
}

impl WriteError {
    fn io(path: &Path, source: io::Error) -> Self {
        WriteError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Where the bytes go.
#[derive(Debug, PartialEq)]
enum Target {
    /// Rename a temporary file over `real`, which keeps `mode` when it already exists.
    Replace { real: PathBuf, mode: Option<u32> },
    /// Open `path` for writing (no create, no truncate) and write in place.
    Direct,
}

/// Follows the symlink chain of `path` to the path that will hold the file (which may
/// not exist yet). Returns `None` when a hop passes through `/proc` or `/dev/fd`.
fn resolve_links(path: &Path) -> Result<Option<PathBuf>, WriteError> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        if current.starts_with("/proc") || current.starts_with("/dev/fd") {
            return Ok(None);
        }
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&current).map_err(|e| WriteError::io(&current, e))?;
                current = match current.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Ok(_) => return Ok(Some(current)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Some(current)),
            Err(e) => return Err(WriteError::io(&current, e)),
        }
    }
    Err(WriteError::LinkLoop {
        path: path.to_path_buf(),
    })
}

fn folder_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

fn target(path: &Path) -> Result<Target, WriteError> {
    let replace = |mode: Option<u32>| -> Result<Target, WriteError> {
        Ok(match resolve_links(path)? {
            Some(real) => Target::Replace { real, mode },
            None => Target::Direct,
        })
    };
    match fs::metadata(path) {
        Ok(m) if m.is_dir() => Err(WriteError::IsFolder {
            path: path.to_path_buf(),
        }),
        Ok(m) if m.is_file() => replace(Some(m.permissions().mode() & 0o7777)),
        Ok(m) => {
            let t = m.file_type();
            if t.is_fifo() || t.is_char_device() {
                Ok(Target::Direct)
            } else {
                Err(WriteError::Unsupported {
                    path: path.to_path_buf(),
                    kind: if t.is_block_device() {
                        "block device"
                    } else if t.is_socket() {
                        "socket"
                    } else {
                        "special file"
                    },
                })
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let target = replace(None)?;
            if let Target::Replace { real, .. } = &target {
                let folder = folder_of(real);
                if !folder.is_dir() {
                    return Err(WriteError::NoFolder {
                        path: path.to_path_buf(),
                        folder: folder.to_path_buf(),
                    });
                }
            }
            Ok(target)
        }
        Err(e) => Err(WriteError::io(path, e)),
    }
}

/// Checks, without writing anything, that `path` can be written by [`write_file`]:
/// run it before long work so a bad `--out` fails first.
pub fn check_writable(path: &Path) -> Result<(), WriteError> {
    match target(path)? {
        Target::Replace { real, .. } => {
            let folder = folder_of(&real);
            tempfile::NamedTempFile::new_in(folder)
                .map(drop)
                .map_err(|e| WriteError::io(path, e))
        }
        Target::Direct => Ok(()),
    }
}

/// Writes `path` by the crate's rule; `write` produces the content into a buffered
/// writer. On any error an existing regular file is left as it was.
pub fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    match target(path)? {
        Target::Direct => {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| WriteError::io(path, e))?;
            let mut out = BufWriter::new(file);
            write(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| WriteError::io(path, e))
        }
        Target::Replace { real, mode } => {
            let name = real
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            // 0o666 here is reduced by the umask at creation, as for any new file.
            let tmp = tempfile::Builder::new()
                .prefix(&format!(".{name}."))
                .suffix(".tmp")
                .permissions(Permissions::from_mode(0o666))
                .tempfile_in(folder_of(&real))
                .map_err(|e| WriteError::io(path, e))?;
            if let Some(mode) = mode {
                tmp.as_file()
                    .set_permissions(Permissions::from_mode(mode))
                    .map_err(|e| WriteError::io(path, e))?;
            }
            let mut out = BufWriter::new(tmp);
            write(&mut out)
                .and_then(|()| out.flush())
                .map_err(|e| WriteError::io(path, e))?;
            let tmp = out
                .into_inner()
                .map_err(|e| WriteError::io(path, e.into_error()))?;
            tmp.as_file()
                .sync_all()
                .map_err(|e| WriteError::io(path, e))?;
            tmp.persist(&real)
                .map_err(|e| WriteError::io(path, e.error))?;
            Ok(())
        }
    }
}

/// [`write_file`] with content already in memory.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_file(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests;
