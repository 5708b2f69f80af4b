//! Files of a run, all next to the `--json OUT.json` path:
//!
//! | file | content |
//! |---|---|
//! | `OUT.json` | the summary, shaped like the reference `summary.json` |
//! | `OUT.clicks_<variant>.json` | per instance `{name, H, W, instance, clicks: [[y, x, positive]…], ious}`, the layout of the reference `clicks_<variant>.json` |
//! | `OUT.progress.jsonl` | a header line, then one [`InstanceResult`] per line, appended and flushed as each instance finishes |
//!
//! `--resume` reads the progress file back, skips the runs it holds and appends the rest; a
//! line cut short by an interruption is dropped. Resuming with another model, click budget,
//! candidate strategy or dataset is refused.

use std::fs::{File, OpenOptions};
use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{EvalError, Result};
use crate::run::{InstanceResult, Variant};
use crate::sam::Strategy;

/// Where a run's files go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputPaths {
    pub summary: PathBuf,
    pub progress: PathBuf,
}

impl OutputPaths {
    /// The files for `--json OUT.json`.
    pub fn for_json(summary: &Path) -> OutputPaths {
        OutputPaths {
            summary: summary.to_path_buf(),
            progress: summary.with_extension("progress.jsonl"),
        }
    }

    /// `OUT.clicks_<variant>.json`.
    pub fn clicks(&self, variant: Variant) -> PathBuf {
        self.summary
            .with_extension(format!("clicks_{}.json", variant.name()))
    }
}

/// First line of the progress file: what the results depend on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunHeader {
    /// Progress file format version.
    pub samkit_eval_progress: u32,
    pub model: String,
    pub max_clicks: usize,
    pub images: PathBuf,
    pub masks: PathBuf,
    pub ignore: Option<PathBuf>,
    /// Which candidate each click keeps; absent in files written before strategies
    /// existed, which all used `sam`.
    #[serde(default)]
    pub strategy: Strategy,
    /// Zoom-in refinement's parameters; absent when the run did not zoom in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zoom: Option<crate::ZoomConfig>,
    /// Horizontal-flip test-time augmentation; absent when off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flip: bool,
}

impl RunHeader {
    pub const VERSION: u32 = 1;
}

/// The append-only progress file.
#[derive(Debug)]
pub struct ProgressLog {
    path: PathBuf,
    file: File,
}

impl ProgressLog {
    /// Opens the progress file. Without `resume` (or when there is none yet) it starts a new
    /// one; with `resume` it returns the results already in it.
    pub fn open(
        path: &Path,
        header: &RunHeader,
        resume: bool,
    ) -> Result<(ProgressLog, Vec<InstanceResult>)> {
        let write_err = |source| EvalError::Write {
            path: path.to_path_buf(),
            source,
        };
        if !(resume && path.is_file()) {
            // A new log replaces the old one atomically, then grows by appends.
            let line = serde_json::to_string(header).map_err(|e| write_err(e.into()))?;
            samkit_outfile::write_bytes(path, format!("{line}\n").as_bytes())?;
            let file = OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(write_err)?;
            let log = ProgressLog {
                path: path.to_path_buf(),
                file,
            };
            return Ok((log, Vec::new()));
        }
        let resume_err = |reason: String| EvalError::Resume {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|source| EvalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut lines = Vec::new(); // (start offset, line, complete)
        let mut start = 0;
        for piece in text.split_inclusive('\n') {
            lines.push((start, piece.trim_end_matches('\n'), piece.ends_with('\n')));
            start += piece.len();
        }
        let Some(&(_, first, _)) = lines.first() else {
            return Err(resume_err("the file is empty".into()));
        };
        let found: RunHeader = serde_json::from_str(first)
            .map_err(|e| resume_err(format!("the first line is not a run header ({e})")))?;
        if &found != header {
            return Err(resume_err(format!(
                "it was written for another run: {} (now: {})",
                describe(&found),
                describe(header)
            )));
        }
        let mut results = Vec::new();
        let mut keep = text.len();
        let last = lines.len() - 1;
        for (i, &(offset, line, complete)) in lines.iter().enumerate().skip(1) {
            if line.trim().is_empty() {
                continue;
            }
            match (serde_json::from_str::<InstanceResult>(line), i == last) {
                (Ok(r), false) => results.push(r),
                (Ok(r), true) if complete => results.push(r),
                // The last line, cut short by an interruption: drop it.
                (_, true) => keep = offset,
                (Err(e), false) => {
                    return Err(resume_err(format!("line {} is damaged ({e})", i + 1)))
                }
            }
        }
        let mut file = OpenOptions::new()
            .write(true)
            .open(path)
            .map_err(write_err)?;
        file.set_len(keep as u64).map_err(write_err)?;
        file.seek(std::io::SeekFrom::End(0)).map_err(write_err)?;
        if keep > 0 && !text[..keep].ends_with('\n') {
            writeln!(file).map_err(write_err)?;
        }
        Ok((
            ProgressLog {
                path: path.to_path_buf(),
                file,
            },
            results,
        ))
    }

    /// Appends one result and flushes it to disk.
    pub fn append(&mut self, result: &InstanceResult) -> Result<()> {
        let err = |source| EvalError::Write {
            path: self.path.clone(),
            source,
        };
        let line = serde_json::to_string(result).map_err(|e| err(e.into()))?;
        writeln!(self.file, "{line}").map_err(err)?;
        self.file.flush().map_err(err)?;
        self.file.sync_data().map_err(err)
    }
}

fn describe(h: &RunHeader) -> String {
    let zoom = h.zoom.map_or(String::new(), |z| {
        format!(
            ", zoom-in (expand {}, min {} px, from click {}, min gain {})",
            z.expand, z.min_size, z.from_click, z.min_gain
        )
    });
    format!(
        "model {}, strategy {}{zoom}{}, {} clicks, images {}, masks {}, ignore {}",
        h.model,
        h.strategy,
        if h.flip { ", flip" } else { "" },
        h.max_clicks,
        h.images.display(),
        h.masks.display(),
        h.ignore
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string())
    )
}

/// One entry of a clicks file (the reference layout plus `instance`).
#[derive(Serialize)]
struct ClicksEntry<'a> {
    name: &'a str,
    #[serde(rename = "H")]
    height: u32,
    #[serde(rename = "W")]
    width: u32,
    instance: u32,
    clicks: &'a [[u32; 3]],
    ious: &'a [f64],
}

/// Writes `value` as indented JSON to `path` (the summary).
pub fn write_json(path: &Path, value: &impl Serialize) -> Result<()> {
    write(path, value, true)
}

fn write(path: &Path, value: &impl Serialize, pretty: bool) -> Result<()> {
    let err = |source| EvalError::Write {
        path: path.to_path_buf(),
        source,
    };
    let text = if pretty {
        serde_json::to_string_pretty(value)
    } else {
        serde_json::to_string(value)
    }
    .map_err(|e| err(e.into()))?;
    Ok(samkit_outfile::write_bytes(path, (text + "\n").as_bytes())?)
}

/// Writes the clicks file of `variant` (results of that variant, in the given order).
pub fn write_clicks(path: &Path, results: &[InstanceResult], variant: Variant) -> Result<()> {
    let entries: Vec<ClicksEntry<'_>> = results
        .iter()
        .filter(|r| r.variant == variant)
        .map(|r| ClicksEntry {
            name: &r.name,
            height: r.height,
            width: r.width,
            instance: r.instance,
            clicks: &r.clicks,
            ious: &r.ious,
        })
        .collect();
    write(path, &entries, false)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> RunHeader {
        RunHeader {
            samkit_eval_progress: RunHeader::VERSION,
            model: "m".into(),
            max_clicks: 3,
            images: "i".into(),
            masks: "m".into(),
            ignore: None,
            strategy: Strategy::Sam,
            zoom: None,
            flip: false,
        }
    }

    fn result(name: &str) -> InstanceResult {
        InstanceResult {
            variant: Variant::Prev,
            name: name.into(),
            instance: 255,
            height: 1,
            width: 1,
            clicks: vec![[0, 0, 1]],
            ious: vec![1.0; 3],
            encoder_s: 0.5,
            decoder_s: vec![0.1],
        }
    }

    #[test]
    fn paths() {
        let p = OutputPaths::for_json(Path::new("out/run.json"));
        assert_eq!(p.progress, Path::new("out/run.progress.jsonl"));
        assert_eq!(
            p.clicks(Variant::Nomask),
            Path::new("out/run.clicks_nomask.json")
        );
    }

    #[test]
    fn resume_skips_done_and_drops_a_cut_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.progress.jsonl");
        let (mut log, prev) = ProgressLog::open(&path, &header(), true).unwrap();
        assert!(prev.is_empty());
        log.append(&result("a")).unwrap();
        log.append(&result("b")).unwrap();
        drop(log);
        // An interruption in the middle of writing "c".
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        write!(f, "{{\"variant\":\"prev\",\"na").unwrap();
        drop(f);
        let (mut log, prev) = ProgressLog::open(&path, &header(), true).unwrap();
        assert_eq!(prev, vec![result("a"), result("b")]);
        log.append(&result("c")).unwrap();
        drop(log);
        let (_, prev) = ProgressLog::open(&path, &header(), true).unwrap();
        assert_eq!(prev.len(), 3);

        // Another model: refused. No resume: starts over.
        let other = RunHeader {
            model: "other".into(),
            ..header()
        };
        let err = ProgressLog::open(&path, &other, true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("another run"), "{err}");
        let (_, prev) = ProgressLog::open(&path, &other, false).unwrap();
        assert!(prev.is_empty());
    }

    #[test]
    fn resume_refuses_another_strategy_and_reads_old_headers_as_sam() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.progress.jsonl");
        let (mut log, _) = ProgressLog::open(&path, &header(), false).unwrap();
        log.append(&result("a")).unwrap();
        drop(log);
        let best = RunHeader {
            strategy: Strategy::BestIou,
            ..header()
        };
        let err = ProgressLog::open(&path, &best, true)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("strategy sam") && err.contains("strategy best-iou"),
            "{err}"
        );
        // A header written before strategies existed has no such field.
        let mut old = serde_json::to_value(header()).unwrap();
        old.as_object_mut().unwrap().remove("strategy");
        let r = serde_json::to_string(&result("a")).unwrap();
        std::fs::write(&path, format!("{old}\n{r}\n")).unwrap();
        let (_, prev) = ProgressLog::open(&path, &header(), true).unwrap();
        assert_eq!(prev, vec![result("a")]);
    }

    #[test]
    fn damaged_middle_line_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.jsonl");
        let h = serde_json::to_string(&header()).unwrap();
        let r = serde_json::to_string(&result("a")).unwrap();
        std::fs::write(&path, format!("{h}\ngarbage\n{r}\n")).unwrap();
        let err = ProgressLog::open(&path, &header(), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("line 2"), "{err}");
    }
}
