//! The SAM model: an image encoder (see [`crate::encoder`]) and a prompt decoder (native or
//! an ONNX Runtime session), validated on load so a wrong file is named before it is used.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Tensor, TensorRef, ValueType};

use crate::encoder::{EncoderBackend, EncoderInfo, ImageEncoder, Precision};

use crate::candidates::{export_selection, stability_score, Decoded, LowResCandidate};
use crate::error::{EngineError, Result};
use crate::native::{DecoderInput, NativeDecoder};
use crate::postprocess::upscale_logits;
use crate::prediction::{Candidate, MaskLogits, Prediction};
use crate::preprocess::{encoder_input, Size};
use crate::prompt::Prompt;
use crate::{Embedding, LowResLogits, LOW_RES};

/// Where a model's two ONNX files are, and the id that keys its cached embeddings.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub id: String,
    pub encoder: PathBuf,
    pub decoder: PathBuf,
}

/// Which implementation decodes prompts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DecoderBackend {
    /// The Rust decoder with the weights read from the decoder file (all four
    /// candidates, batches); falls back to ONNX Runtime when the file's weights cannot
    /// be mapped, with [`SamDecoder::notice`] saying why.
    #[default]
    Native,
    /// The decoder ONNX file run by ONNX Runtime, as shipped.
    Onnx,
}

impl std::str::FromStr for DecoderBackend {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "native" => Ok(Self::Native),
            "onnx" => Ok(Self::Onnx),
            _ => Err(format!("unknown decoder '{s}': use native or onnx")),
        }
    }
}

impl std::fmt::Display for DecoderBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Native => "native",
            Self::Onnx => "onnx",
        })
    }
}

/// Session settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// Intra-op threads of ONNX Runtime, OpenVINO and the native decoder; 0 = one per core.
    pub intra_threads: usize,
    pub decoder: DecoderBackend,
    /// What runs the encoder. The library's default is ONNX Runtime (the exact reference);
    /// the command line and the server default to `auto`.
    pub encoder: EncoderBackend,
    pub precision: Precision,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self {
            intra_threads: 1,
            decoder: DecoderBackend::Native,
            encoder: EncoderBackend::OnnxRuntime,
            precision: Precision::Auto,
        }
    }
}

/// A loaded, validated SAM encoder/decoder pair. Methods take `&self`; the encoder and
/// decoder each sit behind their own lock, so one image can be encoded while another
/// is being decoded.
pub struct SamModel {
    /// The embedding id: the model's id, plus the encoder's backend and precision.
    id: String,
    encoder: ImageEncoder,
    encoder_info: EncoderInfo,
    decoder: Arc<SamDecoder>,
    decoder_path: PathBuf,
    opts: EngineOptions,
}

/// A prompt decoder alone: one decoder session of a model, without its encoder (the
/// encoder is most of a model's memory). Servers decoding several prompts at once load
/// extra ones with [`SamModel::load_decoder`]; results equal [`SamModel::predict`]'s.
pub struct SamDecoder {
    id: String,
    backend: Backend,
    /// Why the native decoder was asked for but ONNX Runtime runs instead.
    notice: Option<String>,
}

enum Backend {
    Onnx(Mutex<Session>),
    // Immutable and lock-free: concurrent decoders share one.
    Native(Arc<NativeDecoder>),
}

const DECODER_INPUTS: [&str; 6] = [
    "image_embeddings",
    "point_coords",
    "point_labels",
    "mask_input",
    "has_mask_input",
    "orig_im_size",
];
const DECODER_OUTPUTS: [&str; 3] = ["masks", "iou_predictions", "low_res_masks"];

pub(crate) fn shape_of(t: &ValueType) -> Option<Vec<i64>> {
    t.tensor_shape().map(|s| s.iter().copied().collect())
}

/// Whether a declared shape (−1 = dynamic) admits `want`.
pub(crate) fn admits(declared: &[i64], want: &[i64]) -> bool {
    declared.len() == want.len() && declared.iter().zip(want).all(|(d, w)| *d < 0 || d == w)
}

/// Opens a session; `arena`: whether ONNX Runtime keeps the memory of its runs in its
/// own arena (fast for many small runs) rather than returning it when a run ends.
pub(crate) fn open_session(
    role: &'static str,
    path: &Path,
    opts: EngineOptions,
    arena: bool,
) -> Result<Session> {
    let load_err = |reason: String| EngineError::ModelLoad {
        role,
        path: path.to_path_buf(),
        reason,
    };
    if !path.is_file() {
        return Err(load_err("no such file".into()));
    }
    let env = crate::runtime::environment().ok_or_else(|| {
        load_err("ONNX Runtime is not loaded yet: call samkit_engine::init_runtime first".into())
    })?;
    let mut builder = Session::builder(env)
        .map_err(|e| load_err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::Level3)
        .map_err(|e| load_err(e.to_string()))?
        .with_intra_threads(opts.intra_threads)
        .map_err(|e| load_err(e.to_string()))?
        .with_inter_threads(1)
        .map_err(|e| load_err(e.to_string()))?
        .with_execution_providers([ort::ep::CPU::default().with_arena_allocator(arena).build()])
        .map_err(|e| load_err(e.to_string()))?;
    builder.commit_from_file(path).map_err(|e| {
        load_err(format!(
            "{e} (is it a complete ONNX file? a truncated download or another file type gives this)"
        ))
    })
}

impl SamModel {
    /// Loads and validates both files. ONNX Runtime must be initialised first
    /// (see [`crate::init_runtime`]).
    /// The encoder runs where `opts.encoder` asks (OpenVINO must have been loaded with
    /// [`crate::init_openvino`] for it to be used); [`encoder_info`](Self::encoder_info)
    /// says what runs it and why.
    pub fn load(spec: &ModelSpec, opts: EngineOptions) -> Result<Self> {
        let (encoder, encoder_info) = ImageEncoder::load(&spec.encoder, opts)?;
        let id = encoder_info.embedding_id(&spec.id);
        let decoder = SamDecoder::load(&id, &spec.decoder, opts)?;
        Ok(Self {
            id,
            encoder,
            encoder_info,
            decoder: Arc::new(decoder),
            decoder_path: spec.decoder.clone(),
            opts,
        })
    }

    /// The id that keys this model's embeddings: the model's id, plus the encoder's
    /// backend and precision where they are not ONNX Runtime f32.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// What runs the encoder, and why.
    pub fn encoder_info(&self) -> &EncoderInfo {
        &self.encoder_info
    }

    /// Why the encoder or the decoder does not run where it was asked to, if so.
    pub fn notices(&self) -> Vec<String> {
        let encoder = self.encoder_info.notice.clone();
        let decoder = self.decoder.notice().map(str::to_string);
        encoder.into_iter().chain(decoder).collect()
    }

    /// This model's own decoder session (shared, behind its lock).
    pub fn decoder(&self) -> Arc<SamDecoder> {
        self.decoder.clone()
    }

    /// Opens one more session of this model's decoder file, without the encoder, for
    /// decoding prompts concurrently.
    pub fn load_decoder(&self) -> Result<SamDecoder> {
        match &self.decoder.backend {
            Backend::Native(native) => Ok(SamDecoder {
                id: self.id.clone(),
                backend: Backend::Native(native.clone()),
                notice: None,
            }),
            // Asked for, or the native reader already failed on this file: no retry.
            Backend::Onnx(_) => SamDecoder::load(
                &self.id,
                &self.decoder_path,
                EngineOptions {
                    decoder: DecoderBackend::Onnx,
                    ..self.opts
                },
            ),
        }
    }

    /// Runs the image encoder on an RGB image.
    pub fn embed(&self, img: &RgbImage) -> Result<Embedding> {
        let original = Size {
            width: img.width(),
            height: img.height(),
        };
        let (input, resized) = encoder_input(img);
        self.encode(input, original, resized)
    }

    /// Runs the encoder on an already preprocessed `[1, 3, 1024, 1024]` input (see
    /// [`crate::preprocess::encoder_input`]); `embed` is preprocessing plus this.
    pub fn encode(&self, input: Vec<f32>, original: Size, resized: Size) -> Result<Embedding> {
        Ok(Embedding {
            model_id: self.id.clone(),
            original,
            resized,
            data: self.encoder.run(input)?,
        })
    }

    /// Decodes a prompt against an embedding into masks at the original resolution.
    pub fn predict(&self, embedding: &Embedding, prompt: &Prompt) -> Result<Prediction> {
        self.decoder.predict(embedding, prompt)
    }

    /// See [`SamDecoder::prepare`].
    pub fn prepare(&self, embedding: &Embedding) -> Result<()> {
        self.decoder.prepare(embedding)
    }

    /// See [`SamDecoder::predict_alternatives`].
    pub fn predict_alternatives(
        &self,
        embedding: &Embedding,
        prompt: &Prompt,
    ) -> Result<Prediction> {
        self.decoder.predict_alternatives(embedding, prompt)
    }

    /// See [`SamDecoder::single_mask_alternative`].
    pub fn single_mask_alternative(
        &self,
        embedding: &Embedding,
        prompt: &Prompt,
    ) -> Result<Option<Candidate>> {
        self.decoder.single_mask_alternative(embedding, prompt)
    }
}

impl SamDecoder {
    /// Loads and validates a decoder file; `model_id` is the id of the model whose
    /// embeddings it decodes. With [`DecoderBackend::Native`], a file whose weights
    /// cannot be mapped is run by ONNX Runtime instead and [`notice`](Self::notice)
    /// says what was missing.
    pub fn load(model_id: &str, path: &Path, opts: EngineOptions) -> Result<Self> {
        let mut notice = None;
        if opts.decoder == DecoderBackend::Native {
            match NativeDecoder::load(path, opts.intra_threads) {
                Ok(native) => {
                    return Ok(Self {
                        id: model_id.to_string(),
                        backend: Backend::Native(Arc::new(native)),
                        notice: None,
                    })
                }
                Err(e) => {
                    notice = Some(format!(
                        "the native decoder cannot read {}: {e}; decoding with ONNX Runtime instead (--decoder-backend onnx chooses it explicitly)",
                        path.display()
                    ))
                }
            }
        }
        let session = open_session("decoder", path, opts, true)?;
        validate_decoder(&session, path)?;
        Ok(Self {
            id: model_id.to_string(),
            backend: Backend::Onnx(Mutex::new(session)),
            notice,
        })
    }

    /// The id of the model whose embeddings this decoder accepts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The implementation that runs prompts.
    pub fn backend(&self) -> DecoderBackend {
        match self.backend {
            Backend::Onnx(_) => DecoderBackend::Onnx,
            Backend::Native(_) => DecoderBackend::Native,
        }
    }

    /// Why the native decoder was asked for and ONNX Runtime runs instead, if it was.
    pub fn notice(&self) -> Option<&str> {
        self.notice.as_deref()
    }

    /// Does the prompt-independent part of decoding this embedding now (natively: about
    /// one decoder pass, kept for the next prompts on it), so the first click on an image
    /// costs no more than the next. Nothing to do for ONNX Runtime.
    pub fn prepare(&self, embedding: &Embedding) -> Result<()> {
        self.check_embedding(embedding)?;
        if let Backend::Native(native) = &self.backend {
            native.prepare(embedding);
        }
        Ok(())
    }

    /// Decodes a prompt against an embedding into the mask the shipped decoder
    /// returns, at the original resolution.
    pub fn predict(&self, embedding: &Embedding, prompt: &Prompt) -> Result<Prediction> {
        match &self.backend {
            Backend::Onnx(_) => {
                self.check_embedding(embedding)?;
                prompt.validate(embedding.original)?;
                let (coords, labels) = prompt.decoder_points(embedding.original);
                self.onnx_decode(embedding, coords, labels, prompt.mask_input.as_ref())
            }
            Backend::Native(_) => {
                let decoded = self.decode_candidates(embedding, prompt)?;
                Ok(Prediction {
                    candidates: vec![full_resolution(decoded.selected(), embedding)],
                })
            }
        }
    }

    /// Every mask output for a prompt at low resolution, with predicted IoU and
    /// stability, and the one the shipped decoder's rule selects. Natively these are
    /// the four outputs in token order; ONNX Runtime gives only its selected mask (and,
    /// for a lone click, its single-mask output).
    pub fn decode_candidates(&self, embedding: &Embedding, prompt: &Prompt) -> Result<Decoded> {
        Ok(self
            .decode_batch(embedding, std::slice::from_ref(prompt))?
            .pop()
            .expect("one result per prompt"))
    }

    /// [`decode_candidates`](Self::decode_candidates) of many prompts on one image, in
    /// one pass where the backend can (natively: the image's share of the work is
    /// done once, memory grows with the batch). Results equal one-at-a-time decoding.
    pub fn decode_batch(&self, embedding: &Embedding, prompts: &[Prompt]) -> Result<Vec<Decoded>> {
        self.check_embedding(embedding)?;
        let mut points = Vec::with_capacity(prompts.len());
        for p in prompts {
            p.validate(embedding.original)?;
            points.push(p.decoder_points(embedding.original));
        }
        match &self.backend {
            Backend::Native(native) => {
                let inputs: Vec<DecoderInput> = points
                    .iter()
                    .zip(prompts)
                    .map(|((coords, labels), p)| DecoderInput {
                        coords,
                        labels,
                        mask: p.mask_input.as_ref(),
                    })
                    .collect();
                let outputs = native.decode(embedding, &inputs);
                Ok(outputs
                    .into_iter()
                    .zip(&inputs)
                    .map(|(out, input)| {
                        let ious: Vec<f32> = out.iou.to_vec();
                        let candidates = out
                            .masks
                            .rows()
                            .into_iter()
                            .zip(&ious)
                            .enumerate()
                            .map(|(token, (m, &iou))| {
                                let low = m.to_vec();
                                LowResCandidate {
                                    token: Some(token as u8),
                                    iou,
                                    stability: stability_score(&low, 0.0, 1.0),
                                    low_res: LowResLogits(low),
                                }
                            })
                            .collect();
                        Decoded {
                            candidates,
                            selected: export_selection(&ious, input.labels.len()),
                        }
                    })
                    .collect())
            }
            Backend::Onnx(_) => {
                let mut out = Vec::with_capacity(prompts.len());
                for (prompt, (coords, labels)) in prompts.iter().zip(points) {
                    let pred =
                        self.onnx_decode(embedding, coords, labels, prompt.mask_input.as_ref())?;
                    let mut candidates: Vec<LowResCandidate> = pred
                        .candidates
                        .into_iter()
                        .map(|c| low_res_candidate(c, None))
                        .collect();
                    if let Some(alt) = self.onnx_single_mask(embedding, prompt)? {
                        candidates.push(low_res_candidate(alt, Some(0)));
                    }
                    out.push(Decoded {
                        candidates,
                        selected: 0,
                    });
                }
                Ok(out)
            }
        }
    }

    /// Like [`predict`](Self::predict), but for a lone click it also returns SAM's
    /// single-mask output as a second candidate (when it differs), so a user can pick
    /// between them. With ONNX Runtime this costs a second decoder call.
    pub fn predict_alternatives(
        &self,
        embedding: &Embedding,
        prompt: &Prompt,
    ) -> Result<Prediction> {
        let mut prediction = self.predict(embedding, prompt)?;
        if prediction.candidates.len() == 1 {
            if let Some(alt) = self.single_mask_alternative(embedding, prompt)? {
                prediction.push_distinct(alt);
            }
        }
        Ok(prediction)
    }

    /// For a lone click (one point, no box, no mask input), SAM's single-mask output,
    /// which the shipped decoder does not return (for one click it picks the best of its
    /// three multimask outputs). `None` for any other prompt.
    pub fn single_mask_alternative(
        &self,
        embedding: &Embedding,
        prompt: &Prompt,
    ) -> Result<Option<Candidate>> {
        let lone_click =
            prompt.points.len() == 1 && prompt.bbox.is_none() && prompt.mask_input.is_none();
        if !lone_click {
            return Ok(None);
        }
        match &self.backend {
            Backend::Onnx(_) => self.onnx_single_mask(embedding, prompt),
            Backend::Native(_) => {
                let decoded = self.decode_candidates(embedding, prompt)?;
                Ok(Some(full_resolution(&decoded.candidates[0], embedding)))
            }
        }
    }

    /// The ONNX decoder chooses its output token from the number of points, so one
    /// more padding point selects the single-mask token; the extra padding token
    /// barely changes the prompt.
    fn onnx_single_mask(
        &self,
        embedding: &Embedding,
        prompt: &Prompt,
    ) -> Result<Option<Candidate>> {
        let lone_click =
            prompt.points.len() == 1 && prompt.bbox.is_none() && prompt.mask_input.is_none();
        if !lone_click {
            return Ok(None);
        }
        self.check_embedding(embedding)?;
        prompt.validate(embedding.original)?;
        let (mut coords, mut labels) = prompt.decoder_points(embedding.original);
        coords.extend([0.0, 0.0]);
        labels.push(-1.0);
        let prediction = self.onnx_decode(embedding, coords, labels, None)?;
        Ok(prediction.candidates.into_iter().next())
    }

    fn check_embedding(&self, embedding: &Embedding) -> Result<()> {
        if embedding.model_id != self.id {
            return Err(EngineError::ModelMismatch {
                embedding_model: embedding.model_id.clone(),
                model: self.id.clone(),
            });
        }
        Ok(())
    }

    fn onnx_decode(
        &self,
        embedding: &Embedding,
        coords: Vec<f32>,
        labels: Vec<f32>,
        mask_input: Option<&LowResLogits>,
    ) -> Result<Prediction> {
        let size = embedding.original;
        let n = labels.len();
        let infer = |reason: String| EngineError::Inference {
            stage: "decoder",
            reason,
        };
        let t = |r: ort::Result<Tensor<f32>>| r.map_err(|e| infer(e.to_string()));
        // A view, not a copy: the embedding is 4 MiB and a decode is only tens of ms.
        let emb = TensorRef::from_array_view(([1usize, 256, 64, 64], embedding.data.as_slice()))
            .map_err(|e| infer(e.to_string()))?;
        let coords = t(Tensor::from_array(([1usize, n, 2], coords)))?;
        let labels = t(Tensor::from_array(([1usize, n], labels)))?;
        let (mask_input, has_mask) = match mask_input {
            Some(m) => (m.0.clone(), 1.0f32),
            None => (vec![0f32; LOW_RES * LOW_RES], 0.0),
        };
        let mask_input = t(Tensor::from_array((
            [1usize, 1, LOW_RES, LOW_RES],
            mask_input,
        )))?;
        let has_mask = t(Tensor::from_array(([1usize], vec![has_mask])))?;
        let orig = t(Tensor::from_array((
            [2usize],
            vec![size.height as f32, size.width as f32],
        )))?;
        let Backend::Onnx(session) = &self.backend else {
            return Err(infer(
                "internal: ONNX decoding asked of the native decoder".into(),
            ));
        };
        let mut session = session.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs![
                "image_embeddings" => emb,
                "point_coords" => coords,
                "point_labels" => labels,
                "mask_input" => mask_input,
                "has_mask_input" => has_mask,
                "orig_im_size" => orig,
            ])
            .map_err(|e| infer(e.to_string()))?;
        let extract = |name: &str| {
            outputs[name]
                .try_extract_tensor::<f32>()
                .map(|(s, d)| (s.iter().copied().collect::<Vec<i64>>(), d))
                .map_err(|e| infer(format!("{name}: {e}")))
        };
        let (mshape, masks) = extract("masks")?;
        let (_, ious) = extract("iou_predictions")?;
        let (_, low) = extract("low_res_masks")?;
        let hw = size.width as usize * size.height as usize;
        let k = ious.len();
        if k == 0 || masks.len() != k * hw || low.len() != k * LOW_RES * LOW_RES {
            return Err(infer(format!(
                "unexpected output sizes: masks {mshape:?} for a {}x{} image, {k} IoU predictions",
                size.width, size.height
            )));
        }
        let candidates = (0..k)
            .map(|i| Candidate {
                logits: MaskLogits {
                    size,
                    data: masks[i * hw..(i + 1) * hw].to_vec(),
                },
                iou: ious[i],
                low_res: LowResLogits(
                    low[i * LOW_RES * LOW_RES..(i + 1) * LOW_RES * LOW_RES].to_vec(),
                ),
            })
            .collect();
        Ok(Prediction { candidates })
    }
}

/// A low-resolution candidate upscaled to the image, as the shipped decoder's `masks`.
fn full_resolution(c: &LowResCandidate, embedding: &Embedding) -> Candidate {
    Candidate {
        logits: upscale_logits(&c.low_res, embedding.original),
        iou: c.iou,
        low_res: c.low_res.clone(),
    }
}

fn low_res_candidate(c: Candidate, token: Option<u8>) -> LowResCandidate {
    LowResCandidate {
        token,
        iou: c.iou,
        stability: stability_score(&c.low_res.0, 0.0, 1.0),
        low_res: c.low_res,
    }
}

fn validate_decoder(session: &Session, path: &Path) -> Result<()> {
    let bad = |problem: String| EngineError::ModelShape {
        role: "decoder",
        path: path.to_path_buf(),
        problem,
    };
    let names =
        |v: &[ort::value::Outlet]| v.iter().map(|o| o.name().to_string()).collect::<Vec<_>>();
    let inputs = names(session.inputs());
    let outputs = names(session.outputs());
    let missing: Vec<_> = DECODER_INPUTS
        .iter()
        .filter(|n| !inputs.iter().any(|i| i == *n))
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "inputs {missing:?} are missing (it has {inputs:?}){}",
            if inputs.len() == 1 {
                ": is this the encoder?"
            } else {
                ""
            }
        )));
    }
    let missing: Vec<_> = DECODER_OUTPUTS
        .iter()
        .filter(|n| !outputs.iter().any(|o| o == *n))
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "outputs {missing:?} are missing (it has {outputs:?})"
        )));
    }
    for o in session.inputs() {
        let want: &[i64] = match o.name() {
            "image_embeddings" => &[1, 256, 64, 64],
            "mask_input" => &[1, 1, 256, 256],
            "has_mask_input" => &[1],
            "orig_im_size" => &[2],
            "point_coords" => &[1, -1, 2],
            "point_labels" => &[1, -1],
            _ => continue,
        };
        let got = shape_of(o.dtype()).unwrap_or_default();
        if !admits(&got, want) && !admits(want, &got) {
            return Err(bad(format!(
                "input '{}' has shape {got:?}, expected {want:?}",
                o.name()
            )));
        }
    }
    Ok(())
}
