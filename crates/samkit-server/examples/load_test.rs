//! Load test of the web app: N simulated annotators prompt (click, then one refining
//! click with `prev`) and accept instances for S seconds against a real server on
//! 127.0.0.1 with the real model; then every acknowledged instance is checked in the
//! database through a separate connection. The report includes the process's resident
//! memory (`rss_ready_mib` once every image is encoded, `peak_rss_mib` and
//! `final_rss_mib` after the run; VmHWM/VmRSS of /proc/self/status). Server and load
//! generator share the process; the generator's share is small.
//!
//! ```text
//! cargo run --release -p samkit-server --example load_test -- --seconds 60 --clients 20
//! ```
//! Options: `--seconds S` (default 60, at most 600), `--clients N` (default 20, at most
//! 200), `--decoders K` (decoder sessions, default 2), `--decoder-backend native|onnx`
//! (default native), `--images DIR` (default: the bundled samples). The model is the default one
//! (installed like `samkit setup`), or `--encoder E --decoder D --ort-lib L`.

use std::path::PathBuf;
use std::time::Instant;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // As `samkit serve` does, so the memory figures are the server's.
    samkit_server::tune_allocator();
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = arg(&args, "--seconds")
        .map_or(Ok(60.0), |s| s.parse::<f64>())?
        .clamp(1.0, 600.0);
    let clients: usize = arg(&args, "--clients")
        .map_or(Ok(20), |s| s.parse::<usize>())?
        .clamp(1, 200);
    let dir = tempfile::tempdir()?;
    match arg(&args, "--images") {
        Some(src) => {
            for e in std::fs::read_dir(src)?.flatten() {
                if e.path().is_file() {
                    std::fs::copy(e.path(), dir.path().join(e.file_name()))?;
                }
            }
        }
        None => {
            samkit_server::demo::write_samples(dir.path())?;
        }
    }
    let opts = samkit_engine::EngineOptions {
        decoder: arg(&args, "--decoder-backend")
            .map(|b| b.parse::<samkit_engine::DecoderBackend>())
            .transpose()?
            .unwrap_or_default(),
        ..Default::default()
    };
    let backend = opts.decoder;
    let loader = match (
        arg(&args, "--encoder"),
        arg(&args, "--decoder"),
        arg(&args, "--ort-lib"),
    ) {
        (Some(e), Some(d), Some(l)) => samkit_server::engine_loader(
            PathBuf::from(l),
            samkit_engine::ModelSpec {
                id: "load-test".into(),
                encoder: e.into(),
                decoder: d.into(),
            },
            opts,
        ),
        _ => {
            let home = samkit_assets::Home::from_env()?;
            let a = samkit_assets::ensure_default(&home, &samkit_assets::Progress::stderr())?;
            let spec = samkit_engine::ModelSpec {
                id: a.model.id,
                encoder: a.model.encoder,
                decoder: a.model.decoder,
            };
            samkit_server::engine_loader(a.ort_lib, spec, opts)
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    rt.block_on(async move {
        let mut cfg = samkit_server::Config::new(dir.path());
        cfg.cache_dir = Some(dir.path().join(".cache"));
        cfg.prefetch = 1000;
        if let Some(k) = arg(&args, "--decoders") {
            cfg.decoders = k.parse::<usize>()?.clamp(1, 8);
        }
        let decoders = cfg.decoders;
        let server = samkit_server::Server::open(cfg, Some(loader)).await?;
        let db = server.state().root.join(".samkit/project.db");
        let token = server.local_token().to_string();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let _ = server.serve(listener, std::future::pending()).await;
        });
        let c = samkit_server::client::Client::new(addr).with_token(&token);
        let t = Instant::now();
        loop {
            let e = c.get("/api/embeddings").await?.json();
            if e["model"]["state"] == "failed" {
                return Err(format!("model failed: {}", e["model"]["error"]).into());
            }
            if e["model"]["state"] == "ready" && e["ready"] == e["total"] {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
        eprintln!("model loaded and {} image(s) encoded in {:.1} s", c.get("/api/images").await?.json()["images"].as_array().map_or(0, |a| a.len()), t.elapsed().as_secs_f64());
        let ready = samkit_server::loadtest::memory(None);
        eprintln!("running {clients} annotators for {seconds} s against {addr} ({decoders} decoder session(s)) ...");
        let report = samkit_server::loadtest::run(c.clone(), clients, seconds).await?;
        // Server and load generator share this process; the generator's share is small
        // (a few connections and JSON answers), so these figures bound the server's.
        let after = samkit_server::loadtest::memory(None);
        let store = samkit_store::Store::open_path(&db).await?;
        let mut missing = 0;
        for id in &report.instances_acked {
            match store.instance(*id).await {
                Ok(i) if !i.deleted => {}
                _ => missing += 1,
            }
        }
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({
            "clients": report.clients, "decoders": decoders, "decoder_backend": backend.to_string(), "seconds": report.seconds, "predicts": report.predicts,
            "predicts_per_s": report.predicts as f64 / report.seconds,
            "p50_ms": report.p50_ms, "p95_ms": report.p95_ms, "max_ms": report.max_ms,
            "decode_p50_ms": report.decode_p50_ms,
            "instances_acked": report.instances_acked.len(), "instances_missing_in_db": missing,
            "errors": report.errors.len(), "first_errors": report.errors.iter().take(5).collect::<Vec<_>>(),
            "rss_ready_mib": ready.map(|m| m.rss_mib),
            "peak_rss_mib": after.map(|m| m.peak_rss_mib),
            "final_rss_mib": after.map(|m| m.rss_mib),
        }))?);
        if missing > 0 || !report.errors.is_empty() {
            return Err("load test failed".into());
        }
        Ok::<(), Box<dyn std::error::Error>>(())
    })
}
