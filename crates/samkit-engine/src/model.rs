//! The SAM model: an image encoder and a prompt decoder as two ONNX Runtime sessions,
//! validated on load so a wrong file is named before it is used.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use image::RgbImage;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::Session;
use ort::value::{Tensor, TensorRef, ValueType};

use crate::error::{EngineError, Result};
use crate::prediction::{Candidate, MaskLogits, Prediction};
use crate::preprocess::{encoder_input, Size, INPUT_SIZE};
use crate::prompt::Prompt;
use crate::{Embedding, LowResLogits, EMBEDDING_LEN, LOW_RES};

/// Where a model's two ONNX files are, and the id that keys its cached embeddings.
#[derive(Debug, Clone)]
pub struct ModelSpec {
    pub id: String,
    pub encoder: PathBuf,
    pub decoder: PathBuf,
}

/// Session settings.
#[derive(Debug, Clone, Copy)]
pub struct EngineOptions {
    /// ONNX Runtime intra-op threads; 0 lets ONNX Runtime choose (one per core).
    pub intra_threads: usize,
}

impl Default for EngineOptions {
    fn default() -> Self {
        Self { intra_threads: 1 }
    }
}

/// A loaded, validated SAM encoder/decoder pair. Methods take `&self`; the encoder and
/// decoder each sit behind their own lock, so one image can be encoded while another
/// is being decoded.
pub struct SamModel {
    id: String,
    encoder: Mutex<Session>,
    encoder_input: String,
    encoder_output: String,
    decoder: Arc<SamDecoder>,
    decoder_path: PathBuf,
    opts: EngineOptions,
}

/// A prompt decoder alone: one decoder session of a model, without its encoder (the
/// encoder is most of a model's memory). Servers decoding several prompts at once load
/// extra ones with [`SamModel::load_decoder`]; results equal [`SamModel::predict`]'s.
pub struct SamDecoder {
    id: String,
    session: Mutex<Session>,
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

fn shape_of(t: &ValueType) -> Option<Vec<i64>> {
    t.tensor_shape().map(|s| s.iter().copied().collect())
}

/// Whether a declared shape (−1 = dynamic) admits `want`.
fn admits(declared: &[i64], want: &[i64]) -> bool {
    declared.len() == want.len() && declared.iter().zip(want).all(|(d, w)| *d < 0 || d == w)
}

/// Opens a session; `arena`: whether ONNX Runtime keeps the memory of its runs in its
/// own arena (fast for many small runs) rather than returning it when a run ends.
fn open_session(
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
    pub fn load(spec: &ModelSpec, opts: EngineOptions) -> Result<Self> {
        // The encoder's arena would keep its largest run's working memory (≈ 400 MB,
        // grown in powers of two) for the life of the model; a run takes about a second,
        // so allocating afresh costs little. Decoder runs are small and frequent.
        let encoder = open_session("encoder", &spec.encoder, opts, false)?;
        let (encoder_input, encoder_output) = validate_encoder(&encoder, &spec.encoder)?;
        let decoder = SamDecoder::load(&spec.id, &spec.decoder, opts)?;
        Ok(Self {
            id: spec.id.clone(),
            encoder: Mutex::new(encoder),
            encoder_input,
            encoder_output,
            decoder: Arc::new(decoder),
            decoder_path: spec.decoder.clone(),
            opts,
        })
    }

    /// The id that keys this model's embeddings.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// This model's own decoder session (shared, behind its lock).
    pub fn decoder(&self) -> Arc<SamDecoder> {
        self.decoder.clone()
    }

    /// Opens one more session of this model's decoder file, without the encoder, for
    /// decoding prompts concurrently.
    pub fn load_decoder(&self) -> Result<SamDecoder> {
        SamDecoder::load(&self.id, &self.decoder_path, self.opts)
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
        let infer = |reason: String| EngineError::Inference {
            stage: "encoder",
            reason,
        };
        let side = INPUT_SIZE as usize;
        let tensor = Tensor::from_array(([1usize, 3, side, side], input))
            .map_err(|e| infer(e.to_string()))?;
        let mut session = self.encoder.lock().unwrap_or_else(|e| e.into_inner());
        let outputs = session
            .run(ort::inputs![self.encoder_input.as_str() => tensor])
            .map_err(|e| infer(e.to_string()))?;
        let (shape, data) = outputs[self.encoder_output.as_str()]
            .try_extract_tensor::<f32>()
            .map_err(|e| infer(e.to_string()))?;
        if data.len() != EMBEDDING_LEN {
            return Err(infer(format!(
                "encoder returned shape {shape:?}, expected [1, 256, 64, 64]"
            )));
        }
        Ok(Embedding {
            model_id: self.id.clone(),
            original,
            resized,
            data: data.to_vec(),
        })
    }

    /// Decodes a prompt against an embedding into masks at the original resolution.
    pub fn predict(&self, embedding: &Embedding, prompt: &Prompt) -> Result<Prediction> {
        self.decoder.predict(embedding, prompt)
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
    /// embeddings it decodes.
    pub fn load(model_id: &str, path: &Path, opts: EngineOptions) -> Result<Self> {
        let session = open_session("decoder", path, opts, true)?;
        validate_decoder(&session, path)?;
        Ok(Self {
            id: model_id.to_string(),
            session: Mutex::new(session),
        })
    }

    /// The id of the model whose embeddings this decoder accepts.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Decodes a prompt against an embedding into masks at the original resolution.
    pub fn predict(&self, embedding: &Embedding, prompt: &Prompt) -> Result<Prediction> {
        self.check_embedding(embedding)?;
        prompt.validate(embedding.original)?;
        let (coords, labels) = prompt.decoder_points(embedding.original);
        self.decode(embedding, coords, labels, prompt.mask_input.as_ref())
    }

    /// Like [`predict`](Self::predict), but for a lone click on a decoder that returns a
    /// single mask it also returns [`single_mask_alternative`](Self::single_mask_alternative)
    /// as a second candidate (when it differs), so a user can pick between them.
    /// Costs a second decoder call; callers with several decoder sessions can run the
    /// two calls concurrently instead.
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
    /// which the default decoder does not return: for one click it picks the best of its
    /// three multimask outputs. The decoder chooses its output token from the number of
    /// points, so one more padding point selects the single-mask token; the extra
    /// padding token barely changes the prompt. `None` for any other prompt.
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
        self.check_embedding(embedding)?;
        prompt.validate(embedding.original)?;
        let (mut coords, mut labels) = prompt.decoder_points(embedding.original);
        coords.extend([0.0, 0.0]);
        labels.push(-1.0);
        let prediction = self.decode(embedding, coords, labels, None)?;
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

    fn decode(
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
        let mut session = self.session.lock().unwrap_or_else(|e| e.into_inner());
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

fn validate_encoder(session: &Session, path: &Path) -> Result<(String, String)> {
    let bad = |problem: String| EngineError::ModelShape {
        role: "encoder",
        path: path.to_path_buf(),
        problem,
    };
    let [input] = session.inputs() else {
        return Err(bad(format!(
            "it has {} inputs ({}), expected one image input of shape [1, 3, 1024, 1024]: is this the decoder?",
            session.inputs().len(),
            session.inputs().iter().map(|i| i.name()).collect::<Vec<_>>().join(", ")
        )));
    };
    let ishape = shape_of(input.dtype()).unwrap_or_default();
    if !admits(&ishape, &[1, 3, 1024, 1024]) {
        return Err(bad(format!(
            "input '{}' has shape {ishape:?}, expected [1, 3, 1024, 1024]",
            input.name()
        )));
    }
    let Some(output) = session.outputs().first() else {
        return Err(bad("it has no outputs".into()));
    };
    let oshape = shape_of(output.dtype()).unwrap_or_default();
    if !admits(&oshape, &[1, 256, 64, 64]) {
        return Err(bad(format!(
            "output '{}' has shape {oshape:?}, expected [1, 256, 64, 64]",
            output.name()
        )));
    }
    Ok((input.name().to_string(), output.name().to_string()))
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
