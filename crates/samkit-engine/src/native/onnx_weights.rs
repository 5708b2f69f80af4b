//! Reads the weights of SAM's prompt encoder and mask decoder out of a decoder ONNX file
//! (the default `sam.onnx`, or an export by segment-anything's `scripts/export_onnx_model.py`)
//! and names them as the PyTorch state dict of segment-anything's `Sam` does, in PyTorch
//! layout (Linear weights `[out, in]`).
//!
//! Exports name most weights (`mask_decoder.…`, `model.prompt_encoder.…`); what constant
//! folding rewrote gets a generated name (`onnx::MatMul_1926`) and is found through the
//! node that consumes it (`/transformer/layers.0/self_attn/q_proj/MatMul`), or by a shape
//! only it has; never by the generated number.
//!
//! The file is user-supplied: its size, every tensor's declared element count and the
//! length of its data are checked before anything is allocated for it.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use prost::Message;

use super::onnx_proto::{
    decoded_size_estimate, GraphProto, ModelProto, NodeProto, TensorProto, TypeProto,
    TypeProtoTensor, ValueInfoProto, DATA_LOCATION_EXTERNAL, DATA_TYPE_FLOAT, DATA_TYPE_FLOAT16,
};

/// Largest decoder file read. A SAM decoder export is about 16 MB (its weights are the same
/// for ViT-B, -L and -H); this leaves room for variants while bounding what decoding the
/// protobuf can allocate.
pub(crate) const MAX_FILE_BYTES: u64 = 256 << 20;
/// Decoding a file's protobuf may take `DECODE_BUDGET_BASE` plus this many times the
/// file's size; a real export decodes to about its own size (its weights are raw bytes).
const DECODE_BUDGET_PER_FILE_BYTE: u64 = 4;
const DECODE_BUDGET_BASE: u64 = 64 << 20;
/// Largest element count accepted for one tensor (the biggest SAM decoder weight has 2 Mi).
pub(crate) const MAX_TENSOR_ELEMENTS: usize = 64 << 20;

/// Why the decoder's weights could not be read from an ONNX file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum WeightError {
    #[error("cannot read the decoder file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the decoder file is {size} bytes, over the {limit}-byte budget for a SAM decoder")]
    FileTooLarge { size: u64, limit: u64 },
    #[error(
        "decoding the file would take up to {bound} bytes of memory, over the {limit}-byte budget: a SAM decoder export decodes to about its own size"
    )]
    DecodeTooLarge { bound: u64, limit: u64 },
    #[error("not an ONNX model: {reason}")]
    NotOnnx { reason: String },
    #[error(
        "tensor `{tensor}` has ONNX data type {data_type}; only FLOAT (1) and FLOAT16 (10) weights are supported"
    )]
    UnsupportedDataType { tensor: String, data_type: i32 },
    #[error("tensor `{tensor}` keeps its data in an external file, which is not supported")]
    ExternalData { tensor: String },
    #[error("tensor `{tensor}` declares shape {dims:?}, over the budget of {limit} elements")]
    OverBudget {
        tensor: String,
        dims: Vec<i64>,
        limit: usize,
    },
    #[error("tensor `{tensor}` is malformed: {problem}")]
    BadTensor { tensor: String, problem: String },
    #[error("decoder weight `{name}` not found in the ONNX file (looked for {looked_for})")]
    Missing { name: String, looked_for: String },
    #[error("decoder weight `{name}` is ambiguous in the ONNX file: {candidates} all match {looked_for}")]
    Ambiguous {
        name: String,
        looked_for: String,
        candidates: String,
    },
    #[error("decoder weight `{name}` has shape {found:?}, expected {expected:?}")]
    WrongShape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
}

/// One weight, row-major, in PyTorch layout.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct WeightTensor {
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// The prompt encoder's and mask decoder's weights, by canonical (state-dict) name.
#[derive(Debug, Clone)]
pub(crate) struct DecoderWeights {
    tensors: BTreeMap<String, WeightTensor>,
    gelu_tanh: bool,
}

impl DecoderWeights {
    /// Reads every weight of [`sam_decoder_weights`] from a decoder ONNX file.
    pub fn from_onnx_file(path: &Path) -> Result<Self, WeightError> {
        let io = |source| WeightError::Io {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path).map_err(io)?;
        let size = file.metadata().map_err(io)?.len();
        if size > MAX_FILE_BYTES {
            return Err(WeightError::FileTooLarge {
                size,
                limit: MAX_FILE_BYTES,
            });
        }
        let mut bytes = Vec::with_capacity(size as usize);
        // `take` bounds the read if the file grows after the size check.
        std::io::Read::read_to_end(
            &mut std::io::Read::take(file, MAX_FILE_BYTES + 1),
            &mut bytes,
        )
        .map_err(io)?;
        Self::from_onnx_bytes(&bytes)
    }

    /// Reads every weight of [`sam_decoder_weights`] from the bytes of a decoder ONNX file.
    pub fn from_onnx_bytes(bytes: &[u8]) -> Result<Self, WeightError> {
        if bytes.len() as u64 > MAX_FILE_BYTES {
            return Err(WeightError::FileTooLarge {
                size: bytes.len() as u64,
                limit: MAX_FILE_BYTES,
            });
        }
        let bound =
            decoded_size_estimate(bytes).map_err(|reason| WeightError::NotOnnx { reason })?;
        let limit = DECODE_BUDGET_BASE + DECODE_BUDGET_PER_FILE_BYTE * bytes.len() as u64;
        if bound > limit {
            return Err(WeightError::DecodeTooLarge { bound, limit });
        }
        let model = ModelProto::decode(bytes).map_err(|e| WeightError::NotOnnx {
            reason: e.to_string(),
        })?;
        let graph = model.graph.ok_or_else(|| WeightError::NotOnnx {
            reason: "the file has no graph".into(),
        })?;
        if graph.node.is_empty() && graph.initializer.is_empty() {
            return Err(WeightError::NotOnnx {
                reason: "the graph is empty".into(),
            });
        }
        let index = GraphIndex::new(&graph);
        let mut tensors = BTreeMap::new();
        for spec in sam_decoder_weights() {
            let tensor = index.find(&spec)?;
            if tensor.shape != spec.shape {
                return Err(WeightError::WrongShape {
                    name: spec.name,
                    found: tensor.shape,
                    expected: spec.shape,
                });
            }
            tensors.insert(spec.name, tensor);
        }
        // segment-anything's export script has `--gelu-approximate`: GELU(approximate="tanh"),
        // which opset < 20 spells with Tanh; the exact GELU is spelled with Erf.
        let gelu_tanh = graph
            .node
            .iter()
            .any(|n| n.op_type.as_deref() == Some("Tanh"));
        Ok(Self { tensors, gelu_tanh })
    }

    /// Removes and returns a weight, checking its shape.
    pub fn take(&mut self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightError> {
        let tensor = self.tensors.get(name).ok_or_else(|| WeightError::Missing {
            name: name.to_string(),
            looked_for: "among the weights not yet taken".into(),
        })?;
        if tensor.shape != shape {
            return Err(WeightError::WrongShape {
                name: name.to_string(),
                found: tensor.shape.clone(),
                expected: shape.to_vec(),
            });
        }
        Ok(self
            .tensors
            .remove(name)
            .map(|t| t.data)
            .unwrap_or_default())
    }

    /// The canonical names of the weights not yet taken, sorted.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.tensors.keys().map(String::as_str)
    }

    /// Whether the export computes GELU with the tanh approximation (segment-anything's
    /// `export_onnx_model.py --gelu-approximate`) rather than exactly (with `erf`).
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn gelu_tanh(&self) -> bool {
        self.gelu_tanh
    }

    /// A weight, without taking it.
    #[cfg_attr(not(test), allow(dead_code))]
    pub fn get(&self, name: &str) -> Option<&WeightTensor> {
        self.tensors.get(name)
    }
}

/// One weight the native decoder needs: its canonical name, PyTorch shape, and how to find
/// it when the export did not keep its name.
#[derive(Debug, Clone)]
pub(crate) struct WeightSpec {
    pub name: String,
    pub shape: Vec<usize>,
    locate: Locate,
}

/// How to find a weight whose name the export did not keep. `module` is the PyTorch module
/// path below `mask_decoder`/`prompt_encoder` (`transformer.layers.0.self_attn.q_proj`),
/// which torch ≥ 1.13 writes into node names (`/transformer/layers.0/self_attn/q_proj/MatMul`).
#[derive(Debug, Clone)]
enum Locate {
    /// Only by name.
    Named,
    /// A constant input (input `input`, or any) of a node of `ops` in `module`, as is
    /// (up to size-1 axes).
    NodeInput {
        module: String,
        ops: &'static [&'static str],
        input: Option<usize>,
    },
    /// A Linear weight: input 1 of the module's `MatMul` (`[in, out]`, transposed here) or
    /// `Gemm` (layout by `transB`); else through the named bias: the MatMul feeding its Add.
    LinearWeight { module: String },
    /// A Linear bias: the constant added to the module's MatMul output, or a Gemm's input 2.
    LinearBias { module: String },
    /// Rows of the folded `cat([iou_token.weight, mask_tokens.weight])`, the only constant
    /// of shape `[1, 5, 256]` (or `[5, 256]`).
    TokenRows { rows: std::ops::Range<usize> },
    /// `no_mask_embed.weight.reshape(1, -1, 1, 1)`, the only `[1, 256, 1, 1]` constant fed
    /// to a `Mul`.
    NoMaskEmbed,
}

/// Channel width of SAM's two-way transformer (the same for ViT-B, -L and -H).
const DIM: usize = 256;
/// SAM's mask tokens: the single-mask one and three multimask ones.
const MASK_TOKENS: usize = 4;

/// Every weight of the prompt encoder and mask decoder, by canonical name, with its shape.
pub(crate) fn sam_decoder_weights() -> Vec<WeightSpec> {
    let md = "mask_decoder";
    let pe = "prompt_encoder";
    let mut specs = Specs(Vec::new());
    for layer in 0..2 {
        let l = format!("transformer.layers.{layer}");
        specs.attention(&format!("{l}.self_attn"), DIM);
        specs.attention(&format!("{l}.cross_attn_token_to_image"), DIM / 2);
        specs.attention(&format!("{l}.cross_attn_image_to_token"), DIM / 2);
        specs.linear(&format!("{l}.mlp.lin1"), 2048, DIM);
        specs.linear(&format!("{l}.mlp.lin2"), DIM, 2048);
    }
    specs.attention("transformer.final_attn_token_to_image", DIM / 2);
    for mlp in 0..MASK_TOKENS {
        specs.mlp3(&format!("output_hypernetworks_mlps.{mlp}"), DIM / 8);
    }
    specs.mlp3("iou_prediction_head", MASK_TOKENS);

    // LayerNormalization, Conv and ConvTranspose take the weight as input 1, the bias as 2.
    const LAYER_NORM: &[&str] = &["LayerNormalization"];
    for layer in 0..2 {
        for norm in 1..=4 {
            let module = format!("transformer.layers.{layer}.norm{norm}");
            specs.weight_and_bias(md, &module, &[DIM], DIM, LAYER_NORM);
        }
    }
    specs.weight_and_bias(md, "transformer.norm_final_attn", &[DIM], DIM, LAYER_NORM);
    // ConvTranspose2d weights are [in, out, kH, kW], Conv2d weights [out, in, kH, kW].
    const CONV_T: &[&str] = &["ConvTranspose"];
    specs.weight_and_bias(
        md,
        "output_upscaling.0",
        &[DIM, DIM / 4, 2, 2],
        DIM / 4,
        CONV_T,
    );
    specs.weight_and_bias(
        md,
        "output_upscaling.3",
        &[DIM / 4, DIM / 8, 2, 2],
        DIM / 8,
        CONV_T,
    );
    const CONV: &[&str] = &["Conv"];
    specs.weight_and_bias(pe, "mask_downscaling.0", &[4, 1, 2, 2], 4, CONV);
    specs.weight_and_bias(pe, "mask_downscaling.3", &[16, 4, 2, 2], 16, CONV);
    specs.weight_and_bias(pe, "mask_downscaling.6", &[DIM, 16, 1, 1], DIM, CONV);
    // LayerNorm2d: `weight[:, None, None] * x + bias[:, None, None]`, folded to [C, 1, 1]:
    // the only such constants of its Mul and Add nodes (the other Add adds epsilon).
    for (prefix, module, channels) in [
        (md, "output_upscaling.1", DIM / 4),
        (pe, "mask_downscaling.1", 4),
        (pe, "mask_downscaling.4", 16),
    ] {
        let name = |param| format!("{prefix}.{module}.{param}");
        specs.node_input(name("weight"), &[channels], module, &["Mul"], None);
        specs.node_input(name("bias"), &[channels], module, &["Add"], None);
    }
    specs.node_input(
        format!("{pe}.pe_layer.positional_encoding_gaussian_matrix"),
        &[2, DIM / 2],
        "pe_layer",
        &["MatMul"],
        Some(1),
    );

    specs.push(
        format!("{md}.iou_token.weight"),
        &[1, DIM],
        Locate::TokenRows { rows: 0..1 },
    );
    specs.push(
        format!("{md}.mask_tokens.weight"),
        &[MASK_TOKENS, DIM],
        Locate::TokenRows {
            rows: 1..1 + MASK_TOKENS,
        },
    );
    for i in 0..4 {
        specs.push(
            format!("{pe}.point_embeddings.{i}.weight"),
            &[1, DIM],
            Locate::Named,
        );
    }
    specs.push(
        format!("{pe}.not_a_point_embed.weight"),
        &[1, DIM],
        Locate::Named,
    );
    specs.push(
        format!("{pe}.no_mask_embed.weight"),
        &[1, DIM],
        Locate::NoMaskEmbed,
    );
    specs.0
}

/// Builds the list of [`sam_decoder_weights`].
struct Specs(Vec<WeightSpec>);

impl Specs {
    fn push(&mut self, name: String, shape: &[usize], locate: Locate) {
        self.0.push(WeightSpec {
            name,
            shape: shape.to_vec(),
            locate,
        });
    }

    /// A `mask_decoder` Linear layer `in → out`.
    fn linear(&mut self, module: &str, out: usize, inp: usize) {
        let module = module.to_string();
        self.push(
            format!("mask_decoder.{module}.weight"),
            &[out, inp],
            Locate::LinearWeight {
                module: module.clone(),
            },
        );
        self.push(
            format!("mask_decoder.{module}.bias"),
            &[out],
            Locate::LinearBias { module },
        );
    }

    /// SAM's `Attention`: q, k, v project 256 → `internal`, out projects back.
    fn attention(&mut self, module: &str, internal: usize) {
        for proj in ["q_proj", "k_proj", "v_proj"] {
            self.linear(&format!("{module}.{proj}"), internal, DIM);
        }
        self.linear(&format!("{module}.out_proj"), DIM, internal);
    }

    /// SAM's 3-layer `MLP` 256 → 256 → 256 → `out`.
    fn mlp3(&mut self, module: &str, out: usize) {
        self.linear(&format!("{module}.layers.0"), DIM, DIM);
        self.linear(&format!("{module}.layers.1"), DIM, DIM);
        self.linear(&format!("{module}.layers.2"), out, DIM);
    }

    fn node_input(
        &mut self,
        name: String,
        shape: &[usize],
        module: &str,
        ops: &'static [&'static str],
        input: Option<usize>,
    ) {
        let module = module.to_string();
        self.push(name, shape, Locate::NodeInput { module, ops, input });
    }

    /// A weight and a `[bias]` bias, inputs 1 and 2 of the module's node of `ops`.
    fn weight_and_bias(
        &mut self,
        prefix: &str,
        module: &str,
        weight: &[usize],
        bias: usize,
        ops: &'static [&'static str],
    ) {
        let name = |param| format!("{prefix}.{module}.{param}");
        self.node_input(name("weight"), weight, module, ops, Some(1));
        self.node_input(name("bias"), &[bias], module, ops, Some(2));
    }
}

/// A constant of the graph: an initializer or a `Constant` node's `value`.
struct Constant<'g> {
    tensor: &'g TensorProto,
    /// How errors name it.
    label: String,
}

/// The graph's constants, nodes and their links, by value name.
struct GraphIndex<'g> {
    constants: HashMap<&'g str, Constant<'g>>,
    nodes: &'g [NodeProto],
    /// Node indices by the value they produce.
    producer: HashMap<&'g str, usize>,
    /// `(node index, input index)` by the value they consume.
    consumers: HashMap<&'g str, Vec<(usize, usize)>>,
    /// Node indices by module path (see [`module_path`]).
    by_module: HashMap<String, Vec<usize>>,
}

impl<'g> GraphIndex<'g> {
    fn new(graph: &'g GraphProto) -> Self {
        let mut constants = HashMap::new();
        let mut producer = HashMap::new();
        let mut consumers: HashMap<&str, Vec<(usize, usize)>> = HashMap::new();
        let mut by_module: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, node) in graph.node.iter().enumerate() {
            for output in &node.output {
                producer.insert(output.as_str(), i);
            }
            for (k, input) in node.input.iter().enumerate() {
                consumers.entry(input.as_str()).or_default().push((i, k));
            }
            let name = node.name.as_deref().unwrap_or("");
            if let Some(module) = module_path(name) {
                by_module.entry(module).or_default().push(i);
            }
            if node.op_type.as_deref() == Some("Constant") {
                let value = node
                    .attribute
                    .iter()
                    .find(|a| a.name.as_deref() == Some("value"))
                    .and_then(|a| a.t.as_ref());
                if let (Some(tensor), Some(output)) = (value, node.output.first()) {
                    let label = format!("{output} (Constant node `{name}`)");
                    constants.insert(output.as_str(), Constant { tensor, label });
                }
            }
        }
        // Initializers win over a Constant node of the same name, as in ONNX Runtime.
        for tensor in &graph.initializer {
            let name = tensor.name.as_deref().unwrap_or("");
            let label = name.to_string();
            constants.insert(name, Constant { tensor, label });
        }
        Self {
            constants,
            nodes: &graph.node,
            producer,
            consumers,
            by_module,
        }
    }

    /// Finds and decodes one weight, in canonical layout where it could be recognised.
    fn find(&self, spec: &WeightSpec) -> Result<WeightTensor, WeightError> {
        let missing = |looked_for: String| WeightError::Missing {
            name: spec.name.clone(),
            looked_for,
        };
        let named = format!(
            "an initializer named `{}` or `model.{}`",
            spec.name, spec.name
        );
        for name in [spec.name.clone(), format!("model.{}", spec.name)] {
            if let Some(constant) = self.constants.get(name.as_str()) {
                return fit_shape(decode(constant)?, &spec.shape);
            }
        }
        match &spec.locate {
            Locate::Named => Err(missing(named)),
            Locate::NodeInput { module, ops, input } => {
                let which = input.map_or("a constant".to_string(), |i| format!("input {i}"));
                let looked_for = format!(
                    "{named}, or {which} {:?} of a {} node in `/{}/`",
                    spec.shape,
                    ops.join("/"),
                    module.replace('.', "/")
                );
                let candidates = self
                    .module_nodes(module, ops)
                    .flat_map(|node| {
                        node.input
                            .iter()
                            .enumerate()
                            .filter(|(i, _)| input.is_none_or(|wanted| *i == wanted))
                            .map(|(_, v)| v)
                    })
                    .filter_map(|input| self.constants.get(input.as_str()))
                    .filter(|c| squeezed_dims(c.tensor) == squeeze(&spec.shape))
                    .collect::<Vec<_>>();
                let constant = self.single(spec, candidates, &looked_for)?;
                fit_shape(decode(constant)?, &spec.shape)
            }
            Locate::LinearWeight { module } => {
                let looked_for = format!(
                    "{named}, or input 1 of a MatMul/Gemm node in `/{}/`",
                    module.replace('.', "/")
                );
                let mut candidates = Vec::new();
                for node in self.module_nodes(module, &["MatMul", "Gemm"]) {
                    if let Some(c) = node
                        .input
                        .get(1)
                        .and_then(|v| self.constants.get(v.as_str()))
                    {
                        candidates.push((node, c));
                    }
                }
                if candidates.is_empty() {
                    // Through the bias, which exports keep named: MatMul(x, W) → Add(bias, ·).
                    if let Some(node) = self.matmul_before_bias(&spec.name) {
                        if let Some(c) = self.constants.get(node.input[1].as_str()) {
                            candidates.push((node, c));
                        }
                    }
                }
                let (node, constant) = match candidates.len() {
                    0 => return Err(missing(looked_for)),
                    1 => candidates[0],
                    _ => {
                        return Err(ambiguous(
                            spec,
                            &looked_for,
                            candidates.iter().map(|&(_, c)| c),
                        ))
                    }
                };
                let tensor = decode(constant)?;
                let transposed = match node.op_type.as_deref() {
                    Some("Gemm") => {
                        check_gemm_scale(node, "alpha", &constant.label)?;
                        attribute_int(node, "transB").unwrap_or(0) == 0
                    }
                    _ => true,
                };
                if transposed {
                    transpose(tensor, &constant.label)
                } else {
                    Ok(tensor)
                }
            }
            Locate::LinearBias { module } => {
                let looked_for = format!(
                    "{named}, or the constant added to a MatMul/Gemm in `/{}/`",
                    module.replace('.', "/")
                );
                let mut candidates = Vec::new();
                for node in self.module_nodes(module, &["MatMul", "Gemm"]) {
                    if node.op_type.as_deref() == Some("Gemm") {
                        if let Some(c) = node
                            .input
                            .get(2)
                            .and_then(|v| self.constants.get(v.as_str()))
                        {
                            check_gemm_scale(node, "beta", &c.label)?;
                            candidates.push(c);
                        }
                        continue;
                    }
                    for (add, _) in self.consumers_of(node, "Add") {
                        candidates.extend(
                            add.input
                                .iter()
                                .filter_map(|v| self.constants.get(v.as_str()))
                                .filter(|c| squeezed_dims(c.tensor) == spec.shape),
                        );
                    }
                }
                let constant = self.single(spec, candidates, &looked_for)?;
                fit_shape(decode(constant)?, &spec.shape)
            }
            Locate::TokenRows { rows } => {
                let tokens = 1 + MASK_TOKENS;
                let looked_for = format!(
                    "{named}, or the only constant of shape [1, {tokens}, {DIM}] (IoU token and mask tokens, fed to /Expand_1 in the default export)"
                );
                let candidates = self
                    .constants
                    .values()
                    .filter(|c| squeezed_dims(c.tensor) == [tokens, DIM])
                    .collect::<Vec<_>>();
                let constant = self.single(spec, candidates, &looked_for)?;
                let all = decode(constant)?;
                if all.data.len() != tokens * DIM {
                    return Err(missing(looked_for));
                }
                Ok(WeightTensor {
                    shape: vec![rows.len(), DIM],
                    data: all.data[rows.start * DIM..rows.end * DIM].to_vec(),
                })
            }
            Locate::NoMaskEmbed => {
                let looked_for = format!(
                    "{named}, or the only constant of shape [1, {DIM}, 1, 1] fed to a Mul (/Mul_9 in the default export)"
                );
                let candidates = self
                    .constants
                    .iter()
                    .filter(|(_, c)| c.tensor.dims == [1, DIM as i64, 1, 1])
                    .filter(|(value, _)| {
                        self.consumers.get(*value).is_some_and(|uses| {
                            uses.iter()
                                .any(|&(n, _)| self.nodes[n].op_type.as_deref() == Some("Mul"))
                        })
                    })
                    .map(|(_, c)| c)
                    .collect::<Vec<_>>();
                let constant = self.single(spec, candidates, &looked_for)?;
                fit_shape(decode(constant)?, &spec.shape)
            }
        }
    }

    /// The nodes of `ops` whose name places them in `module`.
    fn module_nodes<'a>(
        &'a self,
        module: &str,
        ops: &'a [&'a str],
    ) -> impl Iterator<Item = &'g NodeProto> + 'a {
        self.by_module
            .get(module)
            .into_iter()
            .flatten()
            .map(|&i| &self.nodes[i])
            .filter(move |node| ops.contains(&node.op_type.as_deref().unwrap_or("")))
    }

    /// The nodes of type `op` that consume one of `node`'s outputs.
    fn consumers_of<'a>(
        &'a self,
        node: &'g NodeProto,
        op: &'a str,
    ) -> impl Iterator<Item = (&'g NodeProto, usize)> + 'a {
        node.output
            .iter()
            .filter_map(|v| self.consumers.get(v.as_str()))
            .flatten()
            .map(|&(n, k)| (&self.nodes[n], k))
            .filter(move |(n, _)| n.op_type.as_deref() == Some(op))
    }

    /// For a Linear weight `X.weight`, the MatMul whose output the named `X.bias` is added
    /// to, when node names do not say which module a MatMul belongs to.
    fn matmul_before_bias(&self, weight_name: &str) -> Option<&'g NodeProto> {
        let bias = weight_name.strip_suffix(".weight")?;
        let bias = [format!("{bias}.bias"), format!("model.{bias}.bias")]
            .into_iter()
            .find(|b| self.constants.contains_key(b.as_str()))?;
        let (bias_key, _) = self.constants.get_key_value(bias.as_str())?;
        let mut found = None;
        for &(add, _) in self.consumers.get(bias_key)? {
            let add = &self.nodes[add];
            if add.op_type.as_deref() != Some("Add") {
                continue;
            }
            for input in &add.input {
                let Some(&p) = self.producer.get(input.as_str()) else {
                    continue;
                };
                let node = &self.nodes[p];
                if node.op_type.as_deref() == Some("MatMul") && node.input.len() == 2 {
                    if found.is_some() {
                        return None;
                    }
                    found = Some(node);
                }
            }
        }
        found
    }

    fn single<'a>(
        &self,
        spec: &WeightSpec,
        mut candidates: Vec<&'a Constant<'g>>,
        looked_for: &str,
    ) -> Result<&'a Constant<'g>, WeightError> {
        // A constant consumed by several matching nodes is still one tensor.
        candidates.sort_by(|a, b| a.label.cmp(&b.label));
        candidates.dedup_by(|a, b| std::ptr::eq(a.tensor, b.tensor));
        match candidates.len() {
            0 => Err(WeightError::Missing {
                name: spec.name.clone(),
                looked_for: looked_for.to_string(),
            }),
            1 => Ok(candidates[0]),
            _ => Err(ambiguous(spec, looked_for, candidates.into_iter())),
        }
    }
}

fn ambiguous<'a, 'g: 'a>(
    spec: &WeightSpec,
    looked_for: &str,
    candidates: impl Iterator<Item = &'a Constant<'g>>,
) -> WeightError {
    WeightError::Ambiguous {
        name: spec.name.clone(),
        looked_for: looked_for.to_string(),
        candidates: candidates
            .map(|c| format!("`{}`", c.label))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn attribute_int(node: &NodeProto, name: &str) -> Option<i64> {
    node.attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(name))
        .and_then(|a| a.i)
}

/// A Gemm scales its product by `alpha` and its bias by `beta`; torch exports both as 1.
fn check_gemm_scale(node: &NodeProto, attribute: &str, tensor: &str) -> Result<(), WeightError> {
    let scale = node
        .attribute
        .iter()
        .find(|a| a.name.as_deref() == Some(attribute))
        .and_then(|a| a.f)
        .unwrap_or(1.0);
    if scale == 1.0 {
        Ok(())
    } else {
        Err(WeightError::BadTensor {
            tensor: tensor.to_string(),
            problem: format!(
                "its Gemm node `{}` has {attribute} = {scale}; only 1 is supported",
                node.name.as_deref().unwrap_or("")
            ),
        })
    }
}

/// The PyTorch module path a node belongs to, from the scope torch writes into its name:
/// `/transformer/layers.0/self_attn/q_proj/MatMul` → `transformer.layers.0.self_attn.q_proj`.
/// Tolerates the wrapper scopes of other exports (`/model/mask_decoder/…`) and Sequential's
/// child names (`/mask_downscaling/mask_downscaling.1/Mul` → `mask_downscaling.1`).
fn module_path(node_name: &str) -> Option<String> {
    let trimmed = node_name.strip_prefix('/')?;
    let mut scopes: Vec<&str> = trimmed.split('/').collect();
    scopes.pop(); // the node's own name
    let mut path: Vec<&str> = Vec::new();
    for scope in scopes {
        // A child scope that repeats its parent's path replaces it.
        if let Some(last) = path.last() {
            if scope
                .strip_prefix(last)
                .is_some_and(|rest| rest.starts_with('.'))
            {
                path.pop();
            }
        }
        path.push(scope);
    }
    let mut module = path.join(".");
    for wrapper in ["model.", "mask_decoder.", "prompt_encoder."] {
        if let Some(rest) = module.strip_prefix(wrapper) {
            module = rest.to_string();
        }
    }
    (!module.is_empty()).then_some(module)
}

fn squeeze(dims: &[usize]) -> Vec<usize> {
    dims.iter().copied().filter(|&d| d != 1).collect()
}

/// A tensor's dims without its size-1 axes; negative dims never match a weight.
fn squeezed_dims(tensor: &TensorProto) -> Vec<usize> {
    tensor
        .dims
        .iter()
        .filter(|&&d| d != 1)
        .map(|&d| usize::try_from(d).unwrap_or(usize::MAX))
        .collect()
}

/// Gives a tensor the weight's shape when they differ only by size-1 axes (the `[C, 1, 1]`
/// of LayerNorm2d, the `[1, 256, 1, 1]` of the no-mask embedding); otherwise leaves it for
/// the shape check to report.
fn fit_shape(mut tensor: WeightTensor, shape: &[usize]) -> Result<WeightTensor, WeightError> {
    if tensor.shape != shape && squeeze(&tensor.shape) == squeeze(shape) {
        tensor.shape = shape.to_vec();
    }
    Ok(tensor)
}

/// `[in, out]` → `[out, in]`.
fn transpose(tensor: WeightTensor, label: &str) -> Result<WeightTensor, WeightError> {
    let &[rows, cols] = tensor.shape.as_slice() else {
        return Err(WeightError::BadTensor {
            tensor: label.to_string(),
            problem: format!(
                "a Linear weight must be 2-D, this one has shape {:?}",
                tensor.shape
            ),
        });
    };
    let mut data = vec![0f32; tensor.data.len()];
    for r in 0..rows {
        for c in 0..cols {
            data[c * rows + r] = tensor.data[r * cols + c];
        }
    }
    Ok(WeightTensor {
        shape: vec![cols, rows],
        data,
    })
}

/// Decodes a FLOAT or FLOAT16 tensor, checking its declared size against the budget and
/// its data before allocating.
fn decode(constant: &Constant) -> Result<WeightTensor, WeightError> {
    let tensor = constant.tensor;
    let label = || constant.label.clone();
    if tensor.data_location == Some(DATA_LOCATION_EXTERNAL) || !tensor.external_data.is_empty() {
        return Err(WeightError::ExternalData { tensor: label() });
    }
    let over_budget = || WeightError::OverBudget {
        tensor: label(),
        dims: tensor.dims.clone(),
        limit: MAX_TENSOR_ELEMENTS,
    };
    let mut shape = Vec::with_capacity(tensor.dims.len().min(8));
    let mut count = 1usize;
    for &d in &tensor.dims {
        let d = usize::try_from(d).map_err(|_| WeightError::BadTensor {
            tensor: label(),
            problem: format!("negative dimension in shape {:?}", tensor.dims),
        })?;
        count = count.checked_mul(d).ok_or_else(over_budget)?;
        shape.push(d);
    }
    if count > MAX_TENSOR_ELEMENTS {
        return Err(over_budget());
    }
    let data_type = tensor.data_type.unwrap_or(0);
    let element_size = match data_type {
        DATA_TYPE_FLOAT => 4,
        DATA_TYPE_FLOAT16 => 2,
        _ => {
            return Err(WeightError::UnsupportedDataType {
                tensor: label(),
                data_type,
            })
        }
    };
    let mismatch = |held: String| WeightError::BadTensor {
        tensor: label(),
        problem: format!(
            "shape {shape:?} needs {count} elements ({} bytes) but it holds {held}",
            count * element_size
        ),
    };
    let data: Vec<f32> = match (&tensor.raw_data, data_type) {
        (Some(raw), _) if raw.len() != count * element_size => {
            return Err(mismatch(format!("{} bytes of raw data", raw.len())))
        }
        (Some(raw), DATA_TYPE_FLOAT) => raw
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect(),
        (Some(raw), _) => raw
            .chunks_exact(2)
            .map(|b| half::f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
        (None, DATA_TYPE_FLOAT) if tensor.float_data.len() == count => tensor.float_data.clone(),
        (None, DATA_TYPE_FLOAT) => {
            return Err(mismatch(format!(
                "{} float_data values",
                tensor.float_data.len()
            )))
        }
        (None, _) if tensor.int32_data.len() == count => tensor
            .int32_data
            .iter()
            .map(|&bits| half::f16::from_bits(bits as u16).to_f32())
            .collect(),
        (None, _) => {
            return Err(mismatch(format!(
                "{} int32_data values",
                tensor.int32_data.len()
            )))
        }
    };
    Ok(WeightTensor { shape, data })
}

/// The model with `names` (float tensors computed inside the graph) added to the graph's
/// outputs, for tests that compare intermediate values with ONNX Runtime.
///
/// Protobuf merges repeated occurrences of a singular message field, so a second `graph`
/// field holding only `output` entries, appended to the file, extends the first one's
/// outputs without re-encoding (and so without dropping fields this crate does not model).
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) fn with_extra_outputs(model: &[u8], names: &[&str]) -> Vec<u8> {
    let outputs = names
        .iter()
        .map(|name| ValueInfoProto {
            name: Some(name.to_string()),
            r#type: Some(TypeProto {
                tensor_type: Some(TypeProtoTensor {
                    elem_type: Some(DATA_TYPE_FLOAT),
                }),
            }),
        })
        .collect();
    let extra = ModelProto {
        graph: Some(GraphProto {
            output: outputs,
            ..Default::default()
        }),
    };
    let mut bytes = model.to_vec();
    bytes.extend_from_slice(&extra.encode_to_vec());
    bytes
}

#[cfg(test)]
mod tests;
