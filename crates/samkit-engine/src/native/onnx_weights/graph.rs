//! Finds each weight of [`super::sam_decoder_weights`] in an ONNX graph: by name, else
//! through the node that consumes it, else by a shape only it has.

use std::collections::HashMap;

use super::specs::{Locate, WeightSpec, DIM, MASK_TOKENS};
use super::{decode, WeightError, WeightTensor, MAX_RANK};
use crate::native::onnx_proto::{GraphProto, NodeProto, TensorProto};

/// How many matching nodes, consumers or node inputs are looked at for one weight. A SAM
/// module has one node of each kind with at most 3 inputs; the cap bounds the work a
/// hostile graph (a million nodes in one module, all feeding one value) can cause.
const MAX_MATCHES: usize = 16;

/// A constant of the graph: an initializer or a `Constant` node's `value`.
pub(super) struct Constant<'g> {
    pub tensor: &'g TensorProto,
    /// How errors name it.
    pub label: String,
}

/// The graph's constants, nodes and their links, by value name.
pub(super) struct GraphIndex<'g> {
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
    pub(super) fn new(graph: &'g GraphProto) -> Self {
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
                    let label = format!("{} (Constant node `{}`)", shown(output), shown(name));
                    constants.insert(output.as_str(), Constant { tensor, label });
                }
            }
        }
        // Initializers win over a Constant node of the same name, as in ONNX Runtime.
        for tensor in &graph.initializer {
            let name = tensor.name.as_deref().unwrap_or("");
            let label = shown(name);
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
    pub(super) fn find(&self, spec: &WeightSpec) -> Result<WeightTensor, WeightError> {
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
                return fit_shape(decode(constant.tensor, &constant.label)?, &spec.shape);
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
                            .take(MAX_MATCHES)
                            .enumerate()
                            .filter(|(i, _)| input.is_none_or(|wanted| *i == wanted))
                            .map(|(_, v)| v)
                    })
                    .filter_map(|input| self.constants.get(input.as_str()))
                    .filter(|c| squeezed_dims(c.tensor) == squeeze(&spec.shape))
                    .collect::<Vec<_>>();
                let constant = self.single(spec, candidates, &looked_for)?;
                fit_shape(decode(constant.tensor, &constant.label)?, &spec.shape)
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
                let tensor = decode(constant.tensor, &constant.label)?;
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
                                .take(MAX_MATCHES)
                                .filter_map(|v| self.constants.get(v.as_str()))
                                .filter(|c| squeezed_dims(c.tensor) == spec.shape),
                        );
                    }
                }
                let constant = self.single(spec, candidates, &looked_for)?;
                fit_shape(decode(constant.tensor, &constant.label)?, &spec.shape)
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
                let all = decode(constant.tensor, &constant.label)?;
                if all.data.len() != tokens * DIM {
                    return Err(missing(looked_for));
                }
                Ok(WeightTensor {
                    shape: vec![rows.len(), DIM],
                    data: all.data[rows.start * DIM..rows.end * DIM].to_vec(),
                })
            }
            Locate::LayerNorm2d { module, op } => {
                let channels = spec.shape.iter().product::<usize>();
                let looked_for = format!(
                    "{named}, or a [{channels}, 1, 1] constant fed to the {op} node of `/{}/` or, failing that, to any {op} node",
                    module.replace('.', "/")
                );
                let mut candidates = self
                    .module_nodes(module, &[op])
                    .flat_map(|node| node.input.iter().take(MAX_MATCHES))
                    .filter_map(|input| self.constants.get(input.as_str()))
                    .filter(|c| squeezed_dims(c.tensor) == [channels])
                    .collect::<Vec<_>>();
                if candidates.is_empty() {
                    candidates = self.fed_to(&[channels as i64, 1, 1], op);
                }
                let constant = self.single(spec, candidates, &looked_for)?;
                fit_shape(decode(constant.tensor, &constant.label)?, &spec.shape)
            }
            Locate::NoMaskEmbed => {
                let looked_for = format!(
                    "{named}, or the only constant of shape [1, {DIM}, 1, 1] fed to a Mul (/Mul_9 in the default export)"
                );
                let candidates = self.fed_to(&[1, DIM as i64, 1, 1], "Mul");
                let constant = self.single(spec, candidates, &looked_for)?;
                fit_shape(decode(constant.tensor, &constant.label)?, &spec.shape)
            }
        }
    }

    /// The constants of exactly `dims` that a node of type `op` consumes.
    fn fed_to(&self, dims: &[i64], op: &str) -> Vec<&Constant<'g>> {
        self.constants
            .iter()
            .filter(|(_, c)| c.tensor.dims == dims)
            .filter(|(value, _)| {
                self.consumers.get(*value).is_some_and(|uses| {
                    uses.iter()
                        .any(|&(n, _)| self.nodes[n].op_type.as_deref() == Some(op))
                })
            })
            .map(|(_, c)| c)
            .collect()
    }

    /// The nodes of `ops` whose name places them in `module` (the first [`MAX_MATCHES`]).
    pub(super) fn module_nodes<'a>(
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
            .take(MAX_MATCHES)
    }

    /// The nodes of type `op` that consume one of `node`'s outputs.
    pub(super) fn consumers_of<'a>(
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
            .take(MAX_MATCHES)
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
        for &(add, _) in self.consumers.get(bias_key)?.iter().take(MAX_MATCHES) {
            let add = &self.nodes[add];
            if add.op_type.as_deref() != Some("Add") {
                continue;
            }
            for input in add.input.iter().take(MAX_MATCHES) {
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
                shown(node.name.as_deref().unwrap_or(""))
            ),
        })
    }
}

/// A name from the file as errors show it: one line, at most 120 characters.
fn shown(name: &str) -> String {
    const MAX_CHARS: usize = 120;
    let mut shown: String = name
        .chars()
        .take(MAX_CHARS)
        .map(|c| if c.is_control() { '\u{fffd}' } else { c })
        .collect();
    if name.chars().nth(MAX_CHARS).is_some() {
        shown.push('…');
    }
    shown
}

/// The PyTorch module path a node belongs to, from the scope torch writes into its name:
/// `/transformer/layers.0/self_attn/q_proj/MatMul` → `transformer.layers.0.self_attn.q_proj`.
/// Tolerates the wrapper scopes of other exports (`/model/mask_decoder/…`) and Sequential's
/// child names (`/mask_downscaling/mask_downscaling.1/Mul` → `mask_downscaling.1`).
pub(super) fn module_path(node_name: &str) -> Option<String> {
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

/// A tensor's dims without its size-1 axes; negative dims and ranks over [`MAX_RANK`]
/// never match a weight.
fn squeezed_dims(tensor: &TensorProto) -> Vec<usize> {
    if tensor.dims.len() > MAX_RANK {
        return vec![usize::MAX];
    }
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
pub(super) fn transpose(tensor: WeightTensor, label: &str) -> Result<WeightTensor, WeightError> {
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
