//! `samkit.export` and `samkit.convert`: the command line's `samkit export` (a
//! `samkit serve` project's annotations) and `samkit convert` (annotation files from one
//! format to another), through the same library calls.

use std::path::PathBuf;

use pyo3::exceptions::{PyFileNotFoundError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use samkit_formats::{ConvertOptions, Format, FormatError, MaskFormat};
use samkit_server::export::{self, ExportError, ExportFilter, ExportFormat};

fn export_error(e: ExportError) -> PyErr {
    let message = e.to_string();
    match e {
        ExportError::Project { ref source, .. }
            if source.kind() == std::io::ErrorKind::NotFound =>
        {
            PyFileNotFoundError::new_err(message)
        }
        ExportError::Invalid(_) => PyValueError::new_err(message),
        ExportError::Format(f) => format_error(f),
        ExportError::Io { .. } | ExportError::Project { .. } => PyOSError::new_err(message),
        ExportError::Store(_) | ExportError::Open { .. } => PyRuntimeError::new_err(message),
    }
}

fn format_error(e: FormatError) -> PyErr {
    let message = e.to_string();
    match e {
        FormatError::Io { ref source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
            PyFileNotFoundError::new_err(message)
        }
        FormatError::Invalid { .. } | FormatError::UnknownInput { .. } => {
            PyValueError::new_err(message)
        }
        FormatError::Image { .. } => PyValueError::new_err(message),
        _ => PyOSError::new_err(message),
    }
}

/// `samkit export PROJECT --to TO --out OUT [--status S] [--db URL]`.
#[pyfunction]
#[pyo3(signature = (project, out, to="coco", status=None, db=None, include_missing=true))]
pub fn export_project<'py>(
    py: Python<'py>,
    project: PathBuf,
    out: PathBuf,
    to: &str,
    status: Option<&str>,
    db: Option<String>,
    include_missing: bool,
) -> PyResult<Bound<'py, PyDict>> {
    let format: ExportFormat = to.parse().map_err(PyValueError::new_err)?;
    let filter = ExportFilter::new(status, include_missing).map_err(export_error)?;
    let summary = py
        .detach(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| ExportError::Io {
                    what: "cannot start the async runtime".into(),
                    source,
                })?;
            runtime.block_on(export::export_project(
                &project,
                db.as_deref(),
                format,
                &filter,
                &out,
            ))
        })
        .map_err(export_error)?;
    let report = PyDict::new(py);
    report.set_item("format", summary.format)?;
    report.set_item("images", summary.images)?;
    report.set_item("instances", summary.instances)?;
    report.set_item("out", summary.out)?;
    report.set_item("notes", summary.notes)?;
    Ok(report)
}

/// `samkit convert INPUT --to TO --out OUT [--images DIR] [--skip-invalid]
/// [--mask-format F] [--tolerance T]`.
#[pyfunction]
#[pyo3(signature = (input, out, to, images=None, skip_invalid=false, mask_format="rle",
                    tolerance=samkit_mask::DEFAULT_TOLERANCE))]
#[allow(clippy::too_many_arguments)]
pub fn convert<'py>(
    py: Python<'py>,
    input: PathBuf,
    out: PathBuf,
    to: &str,
    images: Option<PathBuf>,
    skip_invalid: bool,
    mask_format: &str,
    tolerance: f64,
) -> PyResult<Bound<'py, PyDict>> {
    let to: Format = to.parse().map_err(PyValueError::new_err)?;
    let mask_format = match mask_format {
        "rle" => MaskFormat::Rle,
        "polygon" => MaskFormat::Polygon,
        other => {
            return Err(PyValueError::new_err(format!(
                "unknown mask_format {other:?}; use \"rle\" (exact) or \"polygon\" (simplified)"
            )))
        }
    };
    if !(tolerance.is_finite() && tolerance >= 0.0) {
        return Err(PyValueError::new_err(
            "tolerance must be a non-negative number of pixels",
        ));
    }
    let opts = ConvertOptions {
        skip_invalid,
        mask_format,
        tolerance,
        ..ConvertOptions::default()
    };
    let report = py
        .detach(move || {
            samkit_formats::convert(&input, to, &out, images.as_deref(), &opts, &mut |_| {})
        })
        .map_err(format_error)?;
    let dict = PyDict::new(py);
    dict.set_item("images", report.images)?;
    dict.set_item("instances", report.instances)?;
    dict.set_item("out", report.output)?;
    dict.set_item("notes", report.notes)?;
    let skipped: Vec<String> = report.skipped.iter().map(|s| s.to_string()).collect();
    dict.set_item("skipped", skipped)?;
    Ok(dict)
}
