//! `load_model`: the model, the runtimes and the embedding cache, resolved and fetched the
//! way the command line does it (`samkit-cli`'s `ModelArgs`).

use std::path::PathBuf;
use std::sync::Arc;

use pyo3::prelude::*;
use samkit_assets::{Home, ModelChoice, Progress};
use samkit_engine::{
    DecoderBackend, EmbeddingCache, EncoderBackend, EngineOptions, ModelSpec, Precision, SamModel,
};

use crate::errors;

/// A loaded SAM model (encoder and decoder) and the embedding cache it shares with the
/// command line.
#[pyclass(frozen, module = "samkit._samkit")]
pub struct Model {
    pub(crate) model: Arc<SamModel>,
    pub(crate) cache: Option<Arc<EmbeddingCache>>,
}

#[pymethods]
impl Model {
    /// The id that keys this model's embeddings (with the encoder's backend).
    #[getter]
    fn id(&self) -> String {
        self.model.id().to_string()
    }

    /// What runs the encoder: `{"backend", "precision", "cpu_bf16", "reason", "notice"}`.
    #[getter]
    fn encoder(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let info = self.model.encoder_info();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("backend", info.backend)?;
        d.set_item("precision", info.precision)?;
        d.set_item("cpu_bf16", info.cpu_bf16)?;
        d.set_item("reason", &info.reason)?;
        d.set_item("notice", info.notice.as_deref())?;
        Ok(d.into_any().unbind())
    }

    /// What decodes prompts: `native` or `onnx`.
    #[getter]
    fn decoder(&self) -> String {
        self.model.decoder().backend().to_string()
    }

    /// Why the encoder or the decoder does not run where it was asked to, if so.
    #[getter]
    fn notices(&self) -> Vec<String> {
        self.model.notices()
    }

    fn __repr__(&self) -> String {
        let info = self.model.encoder_info();
        format!(
            "samkit.Model(id={:?}, encoder={} {}, decoder={})",
            self.model.id(),
            info.backend,
            info.precision,
            self.model.decoder().backend()
        )
    }
}

fn parse<T: std::str::FromStr<Err = String>>(value: &str) -> PyResult<T> {
    value.parse().map_err(errors::value)
}

#[allow(clippy::too_many_arguments)]
#[pyfunction]
#[pyo3(signature = (name=None, *, encoder=None, decoder=None, threads=1, encoder_backend="auto",
                    precision="auto", decoder_backend="native", ort_lib=None, openvino_lib=None,
                    cache=true))]
pub fn load_model(
    py: Python<'_>,
    name: Option<String>,
    encoder: Option<PathBuf>,
    decoder: Option<PathBuf>,
    threads: usize,
    encoder_backend: &str,
    precision: &str,
    decoder_backend: &str,
    ort_lib: Option<PathBuf>,
    openvino_lib: Option<PathBuf>,
    cache: bool,
) -> PyResult<Model> {
    if encoder.is_some() != decoder.is_some() {
        return Err(errors::value(
            "give both encoder= and decoder= (the two ONNX files of one model), or neither",
        ));
    }
    if name.is_some() && encoder.is_some() {
        return Err(errors::value(
            "name= and encoder=/decoder= cannot be used together: a registered model has its own files",
        ));
    }
    if threads > 256 {
        return Err(errors::value(
            "threads must be from 0 (one per core) to 256",
        ));
    }
    let opts = EngineOptions {
        intra_threads: threads,
        decoder: parse::<DecoderBackend>(decoder_backend)?,
        encoder: parse::<EncoderBackend>(encoder_backend)?,
        precision: parse::<Precision>(precision)?,
    };
    let choice = ModelChoice {
        encoder,
        decoder,
        model: name,
        ort_lib,
        want_openvino: opts.encoder != EncoderBackend::OnnxRuntime,
        openvino_lib,
    };
    py.detach(move || {
        let home = Home::from_env().map_err(errors::assets)?;
        let resolved =
            samkit_assets::resolve(&home, &choice, &Progress::stderr()).map_err(errors::assets)?;
        samkit_engine::init_runtime(&resolved.ort_lib).map_err(errors::engine)?;
        if let Some(lib) = &resolved.openvino {
            samkit_engine::offer_openvino(lib.as_deref().map_err(String::as_str));
        }
        let spec = ModelSpec {
            id: resolved.model.id,
            encoder: resolved.model.encoder,
            decoder: resolved.model.decoder,
        };
        let model = SamModel::load(&spec, opts).map_err(errors::engine)?;
        let cache = cache.then(|| Arc::new(EmbeddingCache::new(home.path().join("embeddings"))));
        Ok(Model {
            model: Arc::new(model),
            cache,
        })
    })
}
