//! `samkit bench --auto`: segment everything (`samkit-auto`, SAM's defaults) on one image
//! against the loop it replaces, one ONNX Runtime decoder call per grid point, in the
//! same run. Rounds alternate the two so a change in machine load hits both alike.
//!
//! The baseline is `points × one-click ONNX time`, clicks timed on the generator's own
//! grid points (a sample of them each round): what a per-point loop over the shipped ONNX
//! decoder costs before any filtering, although it gets only one of the three masks SAM's
//! generator looks at per point.

use std::sync::Arc;
use std::time::Instant;

use image::RgbImage;
use samkit_auto::{generate, multimask_outputs, AutoParams, PointDecoder, Proposal};
use samkit_engine::{
    upscale_logits, DecoderBackend, Embedding, LowResLogits, Point, PointLabel, Prompt, SamDecoder,
};

use crate::bench::{decoder_with, median_ms};
use crate::model_args::LoadedModel;

/// Grid points clicked through ONNX Runtime per round (every k-th of the grid).
const ONNX_SAMPLE: usize = 64;

/// The generator's decoder over an embedding computed once, so the figure is the
/// generator's work after `set_image` (the encoder is timed on its own).
struct Prepared<'a> {
    decoder: &'a SamDecoder,
    embedding: &'a Embedding,
}

impl PointDecoder for Prepared<'_> {
    type Embedding = ();
    type LowRes = LowResLogits;

    fn embed(&self, _crop: &RgbImage, whole_image: bool) -> samkit_auto::Result<()> {
        if whole_image {
            Ok(())
        } else {
            Err(samkit_auto::AutoError::Param(
                "the benchmark runs without crop layers".into(),
            ))
        }
    }

    fn decode_multimask(
        &self,
        _: &(),
        points: &[[f64; 2]],
    ) -> samkit_auto::Result<Vec<[Proposal<LowResLogits>; 3]>> {
        multimask_outputs(self.decoder, self.embedding, points)
    }

    fn upscale(&self, _: &(), low_res: &LowResLogits) -> Vec<f32> {
        upscale_logits(low_res, self.embedding.original).data
    }
}

pub struct AutoFigures {
    pub encoder_ms: f64,
    pub generate_ms: Vec<f64>,
    pub onnx_click_ms: Vec<f64>,
    pub points: usize,
    pub masks: usize,
}

impl AutoFigures {
    pub fn generate_s(&self) -> f64 {
        median_ms(self.generate_ms.clone()) / 1e3
    }
    pub fn onnx_loop_s(&self) -> f64 {
        median_ms(self.onnx_click_ms.clone()) * self.points as f64 / 1e3
    }
}

pub fn measure(
    loaded: &LoadedModel,
    opts: samkit_engine::EngineOptions,
    img: &RgbImage,
    warmup: usize,
    runs: usize,
) -> anyhow::Result<AutoFigures> {
    let native: Arc<SamDecoder> = decoder_with(loaded, opts, DecoderBackend::Native)?
        .map_err(|why| anyhow::anyhow!("segment everything needs the native decoder: {why}"))?;
    let onnx = decoder_with(loaded, opts, DecoderBackend::Onnx)?
        .map_err(|e| anyhow::anyhow!("cannot open the decoder with ONNX Runtime: {e}"))?;
    let t = Instant::now();
    let embedding = loaded.model.embed(img)?;
    let encoder_ms = t.elapsed().as_secs_f64() * 1e3;
    native.prepare(&embedding)?;

    let params = AutoParams::default();
    let grid = &params.point_grids()?[0];
    let (w, h) = (f64::from(img.width()), f64::from(img.height()));
    let step = (grid.len() / ONNX_SAMPLE).max(1);
    let clicks: Vec<Prompt> = grid
        .iter()
        .step_by(step)
        .map(|p| Prompt {
            points: vec![Point {
                x: (p[0] * w) as f32,
                y: (p[1] * h) as f32,
                label: PointLabel::Positive,
            }],
            ..Default::default()
        })
        .collect();

    let prepared = Prepared {
        decoder: &native,
        embedding: &embedding,
    };
    let mut masks = 0;
    let mut auto_round = || -> anyhow::Result<f64> {
        let t = Instant::now();
        let data = generate(&prepared, img, &params, |_| {})?;
        masks = data.len();
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    let onnx_round = |out: &mut Vec<f64>| -> anyhow::Result<()> {
        for click in &clicks {
            let t = Instant::now();
            onnx.predict(&embedding, click)?;
            out.push(t.elapsed().as_secs_f64() * 1e3);
        }
        Ok(())
    };
    let mut scratch = Vec::new();
    for _ in 0..warmup {
        auto_round()?;
        onnx_round(&mut scratch)?;
    }
    let (mut generate_ms, mut onnx_click_ms) = (Vec::new(), Vec::new());
    for round in 0..runs {
        if round % 2 == 0 {
            generate_ms.push(auto_round()?);
            onnx_round(&mut onnx_click_ms)?;
        } else {
            onnx_round(&mut onnx_click_ms)?;
            generate_ms.push(auto_round()?);
        }
    }
    Ok(AutoFigures {
        encoder_ms,
        generate_ms,
        onnx_click_ms,
        points: grid.len(),
        masks,
    })
}

pub fn report(
    f: &AutoFigures,
    image: &std::path::Path,
    img: &RgbImage,
    json: bool,
    threads: usize,
) {
    let (gen, base) = (f.generate_s(), f.onnx_loop_s());
    let per_image = gen + f.encoder_ms / 1e3;
    if json {
        let v = serde_json::json!({
            "image": image, "width": img.width(), "height": img.height(), "threads": threads,
            "points": f.points, "masks": f.masks, "encoder_ms": f.encoder_ms,
            "generate_s": gen, "seconds_per_image": per_image,
            "onnx_click_ms": median_ms(f.onnx_click_ms.clone()),
            "onnx_loop_s": base, "speedup_vs_onnx_loop": base / gen,
            "samples_ms": {"generate": f.generate_ms, "onnx_click": f.onnx_click_ms},
        });
        println!("{v}");
    } else {
        println!(
            "segment everything on {} ({}x{}), SAM's defaults ({} points), {threads} thread(s):",
            image.display(),
            img.width(),
            img.height(),
            f.points
        );
        println!(
            "  generator      {gen:8.2} s after encoding ({} masks; median of {} runs)",
            f.masks,
            f.generate_ms.len()
        );
        println!(
            "  per image      {per_image:8.2} s with the encoder ({:.2} s)",
            f.encoder_ms / 1e3
        );
        println!(
            "  ONNX loop      {base:8.2} s = {} points x {:.1} ms (one click, median of {})",
            f.points,
            median_ms(f.onnx_click_ms.clone()),
            f.onnx_click_ms.len()
        );
        println!("  speed-up       {:8.2}x", base / gen);
    }
}
