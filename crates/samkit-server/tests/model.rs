//! HTTP API tests with the real model (kept few: each encode costs about a second).

mod common;

use common::{start, wait_all_encoded};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_refine_accept_and_reopen_without_reencoding() {
    let dir = tempfile::tempdir().unwrap();
    samkit_server::demo::write_samples(dir.path()).unwrap();
    for n in samkit_server::demo::sample_names() {
        if n != "chelsea.png" {
            let _ = std::fs::remove_file(dir.path().join(n));
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = s.client.as_user("alice");
    // The first predict waits for the encoding.
    let p = json!({"points": [{"x": 225, "y": 150, "label": "positive"}]});
    let r = c.post("/api/images/1/predict", &p).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    let cand = &v["candidates"][0];
    let counts: u64 = cand["rle"]["counts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap())
        .sum();
    assert_eq!(counts, 300 * 451);
    assert_eq!(cand["rle"]["size"], json!([300, 451]));
    assert!(cand["area"].as_u64().unwrap() > 0 && cand["iou"].as_f64().unwrap() > 0.0);
    // Refinement feeds the previous low-res mask back.
    let refine = json!({"points": [{"x": 225, "y": 150, "label": "positive"}, {"x": 20, "y": 20, "label": "negative"}],
                        "prev": {"token": v["token"], "candidate": 0}});
    let r2 = c.post("/api/images/1/predict", &refine).await.unwrap();
    assert_eq!(r2.status, 200, "{}", String::from_utf8_lossy(&r2.body));
    assert!(r2.json()["decode_ms"].as_f64().unwrap() > 0.0);
    let bad = c
        .post(
            "/api/images/1/predict",
            &json!({"points": p["points"], "prev": "p-999999"}),
        )
        .await
        .unwrap();
    assert_eq!(bad.status, 400);
    let out = c
        .post(
            "/api/images/1/predict",
            &json!({"points": [{"x": 9999, "y": 1, "label": "positive"}]}),
        )
        .await
        .unwrap();
    assert_eq!(out.status, 400, "{}", String::from_utf8_lossy(&out.body));
    let acc = c
        .post(
            "/api/images/1/instances",
            &json!({"rle": cand["rle"], "score": cand["iou"], "prompts": p}),
        )
        .await
        .unwrap();
    assert_eq!(acc.status, 201);
    let e = c.get("/api/embeddings").await.unwrap().json();
    assert_eq!(
        (e["ready"].as_i64(), e["total"].as_i64()),
        (Some(1), Some(1)),
        "{e}"
    );
    s.task.abort();
    // Reopened: the embedding comes from the cache, no re-encode needed.
    let s2 = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    wait_all_encoded(&s2.client, 60).await;
    let r = s2
        .client
        .post(
            "/api/images/1/predict",
            &json!({"points": p["points"], "wait_ms": 0}),
        )
        .await
        .unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let insts = s2
        .client
        .get("/api/images/1/instances")
        .await
        .unwrap()
        .json();
    assert_eq!(insts["instances"].as_array().unwrap().len(), 1);
}

/// A lone click offers every candidate (the native decoder's four outputs, the selected
/// one first), each with its predicted IoU; any of them can be refined.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_click_offers_every_candidate_with_its_predicted_iou() {
    let dir = tempfile::tempdir().unwrap();
    samkit_server::demo::write_samples(dir.path()).unwrap();
    for n in samkit_server::demo::sample_names() {
        if n != "chelsea.png" {
            let _ = std::fs::remove_file(dir.path().join(n));
        }
    }
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = s.client.as_user("alice");
    let p = json!({"points": [{"x": 225, "y": 150, "label": "positive"}]});
    let r = c.post("/api/images/1/predict", &p).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["decoder"], "native");
    let cands = v["candidates"].as_array().unwrap();
    let tokens: Vec<u64> = cands.iter().map(|c| c["token"].as_u64().unwrap()).collect();
    let mut sorted = tokens.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), tokens.len(), "{tokens:?}");
    assert!(tokens.len() >= 3 && tokens.contains(&0), "{tokens:?}");
    // SAM's rule for one click: the multimask output with the best predicted IoU.
    let iou = |c: &serde_json::Value| c["iou"].as_f64().unwrap();
    assert!((1..=3).contains(&tokens[0]), "{tokens:?}");
    for c in &cands[1..] {
        if c["token"] != 0 {
            assert!(iou(c) <= iou(&cands[0]), "{v}");
        }
    }
    for c in cands {
        let runs: Vec<u64> = c["rle"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_u64().unwrap())
            .collect();
        let ones: u64 = runs.iter().skip(1).step_by(2).sum();
        assert_eq!(c["area"].as_u64().unwrap(), ones);
        let stability = c["stability"].as_f64().unwrap();
        assert!((0.0..=1.0).contains(&stability), "{stability}");
    }
    // Refining the single-mask candidate uses its logits.
    let single = tokens.iter().position(|&t| t == 0).unwrap();
    let refine = json!({"points": [{"x": 225, "y": 150, "label": "positive"}, {"x": 20, "y": 20, "label": "negative"}],
                        "prev": {"token": v["token"], "candidate": single}});
    let r2 = c.post("/api/images/1/predict", &refine).await.unwrap();
    assert_eq!(r2.status, 200, "{}", String::from_utf8_lossy(&r2.body));
    let beyond =
        json!({"points": p["points"], "prev": {"token": v["token"], "candidate": tokens.len()}});
    let r3 = c.post("/api/images/1/predict", &beyond).await.unwrap();
    assert_eq!(r3.status, 400, "{}", String::from_utf8_lossy(&r3.body));
    // Without multimask: the selection alone, the same mask.
    let one = c
        .post(
            "/api/images/1/predict",
            &json!({"points": p["points"], "multimask": false}),
        )
        .await
        .unwrap()
        .json();
    assert_eq!(one["candidates"].as_array().unwrap().len(), 1);
    assert_eq!(one["candidates"][0]["rle"], cands[0]["rle"]);
    assert_eq!(one["candidates"][0]["token"], cands[0]["token"]);
    let health = c.get("/api/health").await.unwrap().json();
    assert_eq!(health["model"]["decoder"], "native", "{health}");
    assert!(health["model"]["decoder_notice"].is_null(), "{health}");
    // The library's default encoder: ONNX Runtime f32, chosen as asked, no notice.
    let encoder = &health["model"]["encoder"];
    assert_eq!(encoder["backend"], "onnxruntime", "{health}");
    assert_eq!(encoder["precision"], "f32", "{health}");
    assert_eq!(encoder["reason"], "onnxruntime as asked", "{health}");
    assert!(encoder["notice"].is_null(), "{health}");
    assert!(encoder["cpu_bf16"].is_string(), "{health}");
}

/// The bounded version of the load test: 5 annotators for 5 s, every acknowledged
/// instance must be in the database afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_load_test_keeps_every_acknowledged_instance() {
    let dir = tempfile::tempdir().unwrap();
    samkit_server::demo::write_samples(dir.path()).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    wait_all_encoded(&s.client, 120).await;
    let report = samkit_server::loadtest::run(s.client.clone(), 5, 5.0)
        .await
        .unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(
        report.predicts > 0 && !report.instances_acked.is_empty(),
        "{report:?}"
    );
    let store = samkit_store::Store::open(&s.db).await.unwrap();
    for id in &report.instances_acked {
        let i = store
            .instance(*id)
            .await
            .expect("acknowledged instance is stored");
        assert!(!i.deleted);
    }
    eprintln!(
        "load 5×5s: {} predicts, p50 {:.0} ms, p95 {:.0} ms, {} instances",
        report.predicts,
        report.p50_ms,
        report.p95_ms,
        report.instances_acked.len()
    );
}

/// Extra decoder sessions load the decoder alone and decode exactly as the model does.
#[test]
fn a_decoder_only_session_gives_the_models_results() {
    let model = common::model_loader()().expect("load the default model");
    let img = samkit_engine::load_rgb(std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../samples/chelsea.png"
    )))
    .unwrap();
    let emb = model.embed(&img).unwrap();
    let extra = model.load_decoder().unwrap();
    assert_eq!(extra.id(), model.id());
    let prompts = [
        samkit_engine::Prompt {
            points: vec![samkit_engine::Point {
                x: 225.0,
                y: 150.0,
                label: samkit_engine::PointLabel::Positive,
            }],
            bbox: None,
            mask_input: None,
        },
        samkit_engine::Prompt {
            points: vec![],
            bbox: Some(samkit_engine::BoxPrompt {
                x0: 100.0,
                y0: 40.0,
                x1: 380.0,
                y1: 290.0,
            }),
            mask_input: None,
        },
    ];
    for p in &prompts {
        let a = model.predict_alternatives(&emb, p).unwrap();
        let b = extra.predict_alternatives(&emb, p).unwrap();
        assert_eq!(a.candidates.len(), b.candidates.len());
        for (x, y) in a.candidates.iter().zip(&b.candidates) {
            assert_eq!(x.iou, y.iou);
            assert_eq!(x.logits.data, y.logits.data);
            assert_eq!(x.low_res.0, y.low_res.0);
        }
    }
}
