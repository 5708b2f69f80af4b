//! `samkit._samkit`: the native half of the Python package `samkit` (the Python half,
//! `python/samkit/`, normalises arguments with numpy and documents the API).
//!
//! Every model call releases the GIL. Errors become Python exceptions carrying the
//! engine's message: `ValueError` for bad arrays and prompts, `FileNotFoundError` for
//! missing paths, `RuntimeError` for model and runtime failures.

mod auto;
mod errors;
mod export;
mod image_arg;
mod model;
mod predictor;
mod rle;

use pyo3::prelude::*;

#[pymodule]
fn _samkit(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<model::Model>()?;
    m.add_class::<predictor::Predictor>()?;
    m.add_function(wrap_pyfunction!(model::load_model, m)?)?;
    m.add_function(wrap_pyfunction!(auto::generate, m)?)?;
    m.add_function(wrap_pyfunction!(auto::masks_from_boxes, m)?)?;
    m.add_function(wrap_pyfunction!(export::export_project, m)?)?;
    m.add_function(wrap_pyfunction!(export::convert, m)?)?;
    m.add_function(wrap_pyfunction!(rle::rle_encode, m)?)?;
    m.add_function(wrap_pyfunction!(rle::rle_decode, m)?)?;
    Ok(())
}
