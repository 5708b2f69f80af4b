//! The weights of SAM's prompt encoder and mask decoder: canonical (state-dict) names,
//! PyTorch shapes, and where an export that did not keep a name puts the weight.

/// One weight the native decoder needs: its canonical name, PyTorch shape, and how to find
/// it when the export did not keep its name.
#[derive(Debug, Clone)]
pub(crate) struct WeightSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub(super) locate: Locate,
}

/// How to find a weight whose name the export did not keep. `module` is the PyTorch module
/// path below `mask_decoder`/`prompt_encoder` (`transformer.layers.0.self_attn.q_proj`),
/// which torch ≥ 1.13 writes into node names (`/transformer/layers.0/self_attn/q_proj/MatMul`).
#[derive(Debug, Clone)]
pub(super) enum Locate {
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
    /// A LayerNorm2d affine parameter: `weight[:, None, None] * x + bias[:, None, None]`
    /// folds to a `[C, 1, 1]` constant fed to the module's `Mul` (weight) or `Add` (bias;
    /// its other Add adds epsilon); else the only `[C, 1, 1]` constant fed to such a node.
    LayerNorm2d { module: String, op: &'static str },
    /// Rows of the folded `cat([iou_token.weight, mask_tokens.weight])`, the only constant
    /// of shape `[1, 5, 256]` (or `[5, 256]`).
    TokenRows { rows: std::ops::Range<usize> },
    /// `no_mask_embed.weight.reshape(1, -1, 1, 1)`, the only `[1, 256, 1, 1]` constant fed
    /// to a `Mul`.
    NoMaskEmbed,
}

/// Channel width of SAM's two-way transformer (the same for ViT-B, -L and -H).
pub(super) const DIM: usize = 256;
/// SAM's mask tokens: the single-mask one and three multimask ones.
pub(super) const MASK_TOKENS: usize = 4;

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
    for (prefix, module, channels) in [
        (md, "output_upscaling.1", DIM / 4),
        (pe, "mask_downscaling.1", 4),
        (pe, "mask_downscaling.4", 16),
    ] {
        for (param, op) in [("weight", "Mul"), ("bias", "Add")] {
            specs.push(
                format!("{prefix}.{module}.{param}"),
                &[channels],
                Locate::LayerNorm2d {
                    module: module.to_string(),
                    op,
                },
            );
        }
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
