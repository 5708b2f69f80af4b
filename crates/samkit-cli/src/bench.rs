//! `samkit bench`: encoder and decoder latency of a model on one image (median of N runs
//! after warm-up). `bench/engine_vs_python.py` runs it beside onnxruntime-python.

use std::path::PathBuf;
use std::time::Instant;

use samkit_engine::preprocess::encoder_input;
use samkit_engine::{Point, PointLabel, Prompt, Size};

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
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub budget: BudgetArgs,
}

fn median_ms(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
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
    let loaded = args.model.load()?;
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
    let decoder = time(args.warmup, args.runs.max(10) * 2, || {
        Ok(model.predict(&embedding, &prompt)?)
    })?;
    let threads = args.model.engine_options().intra_threads;
    let (p, e, d) = (
        median_ms(preprocess.clone()),
        median_ms(encoder.clone()),
        median_ms(decoder.clone()),
    );
    if args.json {
        let v = serde_json::json!({
            "image": image, "threads": threads, "runs": args.runs, "warmup": args.warmup,
            "preprocess_ms": p, "encoder_ms": e, "decoder_ms": d, "model": model.id(),
            "samples_ms": {"preprocess": preprocess, "encoder": encoder, "decoder": decoder},
        });
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
        println!("encoder     {e:8.1} ms");
        println!("decoder     {d:8.1} ms (one click)");
    }
    Ok(())
}
