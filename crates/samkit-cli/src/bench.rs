//! `samkit bench`: encoder and decoder latency of a model on one image (median of N runs
//! after warm-up), and the native decoder against ONNX Runtime's in the same run (the two
//! alternating, so a change in machine load hits both alike). `bench/engine_vs_python.py`
//! runs it beside onnxruntime-python. The encoder backends are compared the same way
//! (`bench_encoders`).

use std::path::PathBuf;
use std::time::Instant;

use samkit_engine::preprocess::encoder_input;
use samkit_engine::{DecoderBackend, EngineOptions, Point, PointLabel, Prompt, SamDecoder, Size};

use crate::budget_args::BudgetArgs;
use crate::model_args::ModelArgs;

#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Image to encode (default: the bundled samples/chelsea.png)
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Timed runs per measurement
    #[arg(long, default_value_t = 10)]
    pub runs: usize,
    /// Untimed warm-up runs
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Print JSON
    #[arg(long)]
    pub json: bool,
    /// Time segment everything (SAM's defaults) instead, against a per-point loop over
    /// the ONNX decoder in the same run; --runs counts generator runs (try 3)
    #[arg(long)]
    pub auto: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

pub(crate) fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Prompts per `decode_batch` in the batch figure (SAM's `points_per_batch`). A batch
/// returns every output at low resolution, as SAM's automatic mask generator uses them
/// (it upscales only the masks it keeps); the one-click figures include the upscaling of
/// the selected mask, as ONNX Runtime's decoder does in its graph.
const BATCH: usize = 64;

/// `rounds` timed calls of `a` and of `b`, alternating, after `warmup` untimed ones of each;
/// which goes first alternates too, so neither always runs on a warmer cache.
fn time_alternating<T, U>(
    warmup: usize,
    rounds: usize,
    mut a: impl FnMut() -> anyhow::Result<T>,
    mut b: impl FnMut() -> anyhow::Result<U>,
) -> anyhow::Result<(Vec<f64>, Vec<f64>)> {
    for _ in 0..warmup {
        a()?;
        b()?;
    }
    let (mut ta, mut tb) = (Vec::with_capacity(rounds), Vec::with_capacity(rounds));
    for round in 0..rounds {
        let mut run_a = || -> anyhow::Result<()> {
            let t = Instant::now();
            a()?;
            ta.push(t.elapsed().as_secs_f64() * 1e3);
            Ok(())
        };
        let mut run_b = || -> anyhow::Result<()> {
            let t = Instant::now();
            b()?;
            tb.push(t.elapsed().as_secs_f64() * 1e3);
            Ok(())
        };
        if round % 2 == 0 {
            run_a()?;
            run_b()?;
        } else {
            run_b()?;
            run_a()?;
        }
    }
    Ok((ta, tb))
}

/// `n × n` positive single clicks on a regular grid over the image (cell centres), as
/// SAM's automatic mask generator places its points.
fn grid_prompts(size: Size, n: usize) -> Vec<Prompt> {
    let mut prompts = Vec::with_capacity(n * n);
    for row in 0..n {
        for col in 0..n {
            let x = ((col as f64 + 0.5) * f64::from(size.width) / n as f64).floor() as f32;
            let y = ((row as f64 + 0.5) * f64::from(size.height) / n as f64).floor() as f32;
            prompts.push(Prompt {
                points: vec![Point {
                    x,
                    y,
                    label: PointLabel::Positive,
                }],
                ..Default::default()
            });
        }
    }
    prompts
}

/// The decoder file opened with `backend`, or why it could not be (the native decoder's
/// fallback notice).
pub(crate) fn decoder_with(
    loaded: &crate::model_args::LoadedModel,
    opts: EngineOptions,
    backend: DecoderBackend,
) -> anyhow::Result<Result<std::sync::Arc<SamDecoder>, String>> {
    let own = loaded.model.decoder();
    if own.backend() == backend {
        return Ok(Ok(own));
    }
    let opts = EngineOptions {
        decoder: backend,
        ..opts
    };
    let decoder = SamDecoder::load(loaded.model.id(), &loaded.spec.decoder, opts)?;
    if decoder.backend() != backend {
        let why = decoder
            .notice()
            .unwrap_or("the native decoder is not available")
            .to_string();
        return Ok(Err(why));
    }
    Ok(Ok(std::sync::Arc::new(decoder)))
}

fn time<T>(
    warmup: usize,
    runs: usize,
    mut f: impl FnMut() -> anyhow::Result<T>,
) -> anyhow::Result<Vec<f64>> {
    for _ in 0..warmup {
        f()?;
    }
    (0..runs)
        .map(|_| {
            let t = Instant::now();
            f()?;
            Ok(t.elapsed().as_secs_f64() * 1e3)
        })
        .collect()
}

pub fn run(args: BenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.runs >= 1, "--runs must be at least 1");
    let image = args.image.clone().unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples/chelsea.png")
    });
    let img = samkit_engine::load_rgb_within(&image, args.budget.budget())?;
    // One warning here if the native decoder falls back; the figures say so again.
    let loaded = args.model.load_quietly()?;
    if args.auto {
        let opts = args.model.engine_options();
        let threads = match opts.intra_threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        let figures =
            crate::bench_auto::measure(&loaded, opts, &img, args.warmup.min(1), args.runs)?;
        crate::bench_auto::report(&figures, &image, &img, args.json, threads);
        return Ok(());
    }
    let model = &loaded.model;
    let original = Size {
        width: img.width(),
        height: img.height(),
    };

    let preprocess = time(args.warmup, args.runs, || Ok(encoder_input(&img)))?;
    let (input, resized) = encoder_input(&img);
    let encoder = time(args.warmup, args.runs, || {
        Ok(model.encode(input.clone(), original, resized)?)
    })?;
    let embedding = model.encode(input, original, resized)?;
    let prompt = Prompt {
        points: vec![Point {
            x: (img.width() / 2) as f32,
            y: (img.height() / 2) as f32,
            label: PointLabel::Positive,
        }],
        ..Default::default()
    };
    let rounds = args.runs.max(10) * 2;
    let decoder = time(args.warmup, rounds, || {
        Ok(model.predict(&embedding, &prompt)?)
    })?;
    let opts = args.model.engine_options();
    let threads = opts.intra_threads;
    let decoder_threads = match threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };

    // The two decoders on the same click, alternating; then one batch of grid clicks.
    let onnx = decoder_with(&loaded, opts, DecoderBackend::Onnx)?
        .map_err(|e| anyhow::anyhow!("cannot open the decoder with ONNX Runtime: {e}"))?;
    let native = decoder_with(&loaded, opts, DecoderBackend::Native)?;
    let (native_samples, onnx_samples, batch_samples) = match &native {
        Ok(native) => {
            let (n, o) = time_alternating(
                args.warmup,
                rounds,
                || Ok(native.predict(&embedding, &prompt)?),
                || Ok(onnx.predict(&embedding, &prompt)?),
            )?;
            let grid = grid_prompts(original, 8);
            let batch = time(args.warmup.min(1), args.runs, || {
                Ok(native.decode_batch(&embedding, &grid)?)
            })?;
            let per_prompt: Vec<f64> = batch.iter().map(|t| t / grid.len() as f64).collect();
            (Some(n), o, Some(per_prompt))
        }
        Err(why) => {
            eprintln!("warning: no native decoder figures: {why}");
            let o = time(args.warmup, rounds, || {
                Ok(onnx.predict(&embedding, &prompt)?)
            })?;
            (None, o, None)
        }
    };
    let encoders =
        crate::bench_encoders::measure(&loaded.spec, opts, &img, args.warmup.min(1), args.runs)?;
    let auto = model.encoder_info();
    let native_ms = native_samples.clone().map(median_ms);
    let onnx_ms = median_ms(onnx_samples.clone());
    let batch_ms = batch_samples.clone().map(median_ms);
    let (p, e, d) = (
        median_ms(preprocess.clone()),
        median_ms(encoder.clone()),
        median_ms(decoder.clone()),
    );
    if args.json {
        let mut v = serde_json::json!({
            "image": image, "threads": threads, "runs": args.runs, "warmup": args.warmup,
            "preprocess_ms": p, "encoder_ms": e, "decoder_ms": d, "model": model.id(),
            "decoder": model.decoder().backend().to_string(),
            "decoder_native_ms": native_ms, "decoder_onnx_ms": onnx_ms,
            "decoder_native_batch_ms_per_prompt": batch_ms, "decoder_batch_size": BATCH,
            "decoder_threads": decoder_threads, "decoder_rounds": rounds,
            "decoder_native_notice": native.as_ref().err(),
            "samples_ms": {"preprocess": preprocess, "encoder": encoder, "decoder": decoder,
                           "decoder_native": native_samples, "decoder_onnx": onnx_samples,
                           "decoder_native_batch_per_prompt": batch_samples},
            "encoder_auto": auto,
        });
        if let Some(map) = v.as_object_mut() {
            map.extend(crate::bench_encoders::json_fields(&encoders));
        }
        println!("{v}");
    } else {
        println!(
            "model {} on {} ({}x{}), {threads} thread(s), median of {} runs",
            model.id(),
            image.display(),
            img.width(),
            img.height(),
            args.runs
        );
        println!("preprocess  {p:8.1} ms");
        println!(
            "encoder     {e:8.1} ms ({} {}: {})",
            auto.backend, auto.precision, auto.reason
        );
        println!(
            "decoder     {d:8.1} ms (one click, {})",
            model.decoder().backend()
        );
        println!("decoders alternating, {decoder_threads} thread(s), median of {rounds} rounds:");
        println!("  onnx      {onnx_ms:8.1} ms (one click)");
        if let (Some(n), Some(b)) = (native_ms, batch_ms) {
            println!(
                "  native    {n:8.1} ms (one click; {:.2}x onnx)",
                n / onnx_ms
            );
            println!(
                "  native    {b:8.1} ms per prompt in a batch of {BATCH}, all 4 outputs at 256x256 ({:.2}x onnx, median of {} batches)",
                b / onnx_ms,
                args.runs
            );
        }
        crate::bench_encoders::print(&encoders, args.runs);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    #[test]
    fn alternating_timing_interleaves_and_swaps_the_order() {
        let calls = RefCell::new(Vec::new());
        let (a, b) = time_alternating(
            1,
            3,
            || {
                calls.borrow_mut().push('a');
                Ok(())
            },
            || {
                calls.borrow_mut().push('b');
                Ok(())
            },
        )
        .unwrap();
        assert_eq!((a.len(), b.len()), (3, 3));
        // Warm-up a b, then rounds: a b, b a, a b.
        assert_eq!(calls.into_inner().iter().collect::<String>(), "ababbaab");
        assert!(a.iter().chain(&b).all(|&t| t >= 0.0));
    }

    #[test]
    fn grid_prompts_are_one_click_each_inside_the_image() {
        let size = Size {
            width: 451,
            height: 300,
        };
        let grid = grid_prompts(size, 8);
        assert_eq!(grid.len(), BATCH);
        for p in &grid {
            assert_eq!(p.points.len(), 1);
            assert!(p.bbox.is_none() && p.mask_input.is_none());
            p.validate(size).unwrap();
        }
        // Cell centres: the first at (28, 18), the last at (422, 281).
        assert_eq!((grid[0].points[0].x, grid[0].points[0].y), (28.0, 18.0));
        assert_eq!((grid[63].points[0].x, grid[63].points[0].y), (422.0, 281.0));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median_ms(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median_ms(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
