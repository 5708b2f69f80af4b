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
//! * one of this process' open descriptors (`/dev/stdout`, `/dev/fd/N`,
//!   `/proc/self/fd/N`, whatever they point at): written through that descriptor, so
//!   `> file` and `>> file` redirections behave as for any tool (offset and append mode
//!   kept); any other path through `/proc` is written in place;
//! * a folder, block device or socket: refused with an error naming what it is.
//!
//! New files get mode `0o666` minus the umask, like other tools; a replaced file
//! keeps its mode.

use std::fs::{self, OpenOptions, Permissions};
use std::io::{self, BufWriter, Write};
use std::os::fd::{BorrowedFd, RawFd};
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
    /// Write through this process' open descriptor `fd` (a duplicate of it).
    Descriptor(RawFd),
}

/// Where a symlink chain ends.
enum Resolved {
    /// The path that will hold the file (it may not exist yet).
    Path(PathBuf),
    /// One of this process' descriptors (`/dev/fd/N`, `/proc/self/fd/N`).
    Descriptor(RawFd),
    /// Somewhere else under `/proc`: no real path to rename over.
    Proc,
}

/// `N` when `path` names this process' descriptor `N`.
fn own_descriptor(path: &Path) -> Option<RawFd> {
    let rest = path
        .strip_prefix("/dev/fd")
        .or_else(|_| path.strip_prefix("/proc/self/fd"))
        .or_else(|_| path.strip_prefix(format!("/proc/{}/fd", std::process::id())))
        .ok()?;
    rest.to_str()?.parse().ok()
}

/// Follows the symlink chain of `path` (at most 40 links, as the kernel does).
fn resolve_links(path: &Path) -> Result<Resolved, WriteError> {
    let mut current = path.to_path_buf();
    for _ in 0..40 {
        if let Some(fd) = own_descriptor(&current) {
            return Ok(Resolved::Descriptor(fd));
        }
        if current.starts_with("/proc") {
            return Ok(Resolved::Proc);
        }
        match fs::symlink_metadata(&current) {
            Ok(m) if m.file_type().is_symlink() => {
                let to = fs::read_link(&current).map_err(|e| WriteError::io(&current, e))?;
                current = match current.parent() {
                    Some(dir) if to.is_relative() => dir.join(to),
                    _ => to,
                };
            }
            Ok(_) => return Ok(Resolved::Path(current)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Resolved::Path(current)),
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
            Resolved::Path(real) => Target::Replace { real, mode },
            Resolved::Descriptor(fd) => Target::Descriptor(fd),
            Resolved::Proc => Target::Direct,
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
                Ok(match resolve_links(path)? {
                    Resolved::Descriptor(fd) => Target::Descriptor(fd),
                    _ => Target::Direct,
                })
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
        Target::Direct | Target::Descriptor(_) => Ok(()),
    }
}

/// Writes `path` by the crate's rule; `write` produces the content into a buffered
/// writer. On any error an existing regular file is left as it was.
pub fn write_file(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let (real, mode) = match target(path)? {
        Target::Replace { real, mode } => (real, mode),
        Target::Descriptor(fd) => {
            let file = descriptor_file(fd).map_err(|e| WriteError::io(path, e))?;
            return write_in_place(path, file, write);
        }
        Target::Direct => {
            let file = OpenOptions::new()
                .write(true)
                .open(path)
                .map_err(|e| WriteError::io(path, e))?;
            return write_in_place(path, file, write);
        }
    };
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

fn write_in_place(
    path: &Path,
    file: fs::File,
    write: impl FnOnce(&mut dyn Write) -> io::Result<()>,
) -> Result<(), WriteError> {
    let mut out = BufWriter::new(file);
    write(&mut out)
        .and_then(|()| out.flush())
        .map_err(|e| WriteError::io(path, e))
}

/// A `File` on a duplicate of this process' open descriptor `fd`: it shares the
/// descriptor's offset and append mode, as a shell redirection expects.
fn descriptor_file(fd: RawFd) -> io::Result<fs::File> {
    if descriptor_is_open(fd) {
        // SAFETY: `fd` is open in this process (checked just above) and is only
        // borrowed for the duplication.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        Ok(fs::File::from(borrowed.try_clone_to_owned()?))
    } else {
        Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("descriptor {fd} is not open"),
        ))
    }
}

/// Whether `fd` is an open descriptor of this process.
fn descriptor_is_open(fd: RawFd) -> bool {
    fd >= 0 && Path::new(&format!("/proc/self/fd/{fd}")).exists()
}

/// Whether `path` is this process' standard output (the same open file, device or
/// pipe): a command that writes its output there must print its report elsewhere.
pub fn is_stdout(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let Ok(target) = fs::metadata(path) else {
        return false;
    };
    let Ok(stdout) = fs::metadata("/proc/self/fd/1") else {
        return false;
    };
    (target.dev(), target.ino()) == (stdout.dev(), stdout.ino())
}

/// [`write_file`] with content already in memory.
pub fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
    write_file(path, |w| w.write_all(bytes))
}

#[cfg(test)]
mod tests;
