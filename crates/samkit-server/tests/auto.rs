//! "Segment everything" through the HTTP API with the real model: the job's proposals
//! are the library's automatic mask generator's masks, progress is reported, jobs are
//! replaced and discarded, predictions are answered while a job runs, and a proposal is
//! accepted as an ordinary instance.

mod common;

use std::time::{Duration, Instant};

use common::start;
use samkit_server::client::Client;
use serde_json::{json, Value};

/// Polls the image's job (brief) until it is finished; returns the last progress seen
/// at each poll.
async fn wait_finished(c: &Client, image: i64, secs: u64) -> Vec<Value> {
    let t = Instant::now();
    let mut seen = Vec::new();
    loop {
        let r = c
            .get(&format!("/api/images/{image}/auto?brief=true"))
            .await
            .unwrap();
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let job = r.json()["job"].clone();
        assert!(job.get("proposals").is_none(), "brief polls carry no masks");
        seen.push(job.clone());
        if ["done", "failed", "cancelled"].contains(&job["state"].as_str().unwrap()) {
            return seen;
        }
        assert!(
            t.elapsed().as_secs() < secs,
            "job not finished in {secs} s: {job}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn chelsea_project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    samkit_server::demo::write_samples(dir.path()).unwrap();
    for n in samkit_server::demo::sample_names() {
        if n != "chelsea.png" {
            let _ = std::fs::remove_file(dir.path().join(n));
        }
    }
    dir
}

fn box_iou(a: &[i64], b: &[i64]) -> f64 {
    let (ax1, ay1, bx1, by1) = (a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]);
    let iw = (ax1.min(bx1) - a[0].max(b[0])).max(0) as f64;
    let ih = (ay1.min(by1) - a[1].max(b[1])).max(0) as f64;
    let inter = iw * ih;
    inter / ((a[2] * a[3]) as f64 + (b[2] * b[3]) as f64 - inter)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segment_everything_job_gives_the_generators_masks_as_proposals() {
    let dir = chelsea_project();
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = s.client.as_user("alice");

    // Parameters are checked, the field named.
    for (bad, field) in [
        (json!({"points_per_side": 0}), "points_per_side"),
        (json!({"pred_iou_thresh": 2.0}), "pred_iou_thresh"),
        (json!({"crop_n_layers": 1}), "crop_n_layers"),
    ] {
        let r = c.post("/api/images/1/auto", &bad).await.unwrap();
        assert_eq!(r.status, 400, "{bad}");
        assert!(
            String::from_utf8_lossy(&r.body).contains(field),
            "{}",
            String::from_utf8_lossy(&r.body)
        );
    }
    assert_eq!(c.get("/api/images/1/auto").await.unwrap().status, 404);
    assert_eq!(
        c.post("/api/images/99/auto", &json!({}))
            .await
            .unwrap()
            .status,
        404
    );

    let params =
        json!({"points_per_side": 8, "pred_iou_thresh": 0.86, "stability_score_thresh": 0.92});
    let r = c.post("/api/images/1/auto", &params).await.unwrap();
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    let job = r.json()["job"].clone();
    assert_eq!(job["points_total"], 64);
    let seen = wait_finished(&c, 1, 300).await;
    let last = seen.last().unwrap();
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["id"], job["id"]);
    assert_eq!(last["points_done"], 64);
    let done: Vec<u64> = seen
        .iter()
        .map(|j| j["points_done"].as_u64().unwrap())
        .collect();
    assert!(done.windows(2).all(|w| w[0] <= w[1]), "{done:?}");

    let full = c.get("/api/images/1/auto").await.unwrap().json()["job"].clone();
    let proposals = full["proposals"].as_array().unwrap().clone();
    assert_eq!(full["proposal_count"], proposals.len());
    assert!(!proposals.is_empty(), "{full}");

    // The same masks, in the same order, as the library's generator on the same image.
    let model = (common::model_loader())().unwrap();
    let rgb = samkit_engine::load_rgb(&dir.path().join("chelsea.png")).unwrap();
    let lib_params = samkit_auto::AutoParams {
        points_per_side: Some(8),
        pred_iou_thresh: 0.86,
        stability_score_thresh: 0.92,
        ..Default::default()
    };
    let data = samkit_auto::generate(
        &samkit_auto::SamPointDecoder::new(&model, None),
        &rgb,
        &lib_params,
        |_| {},
    )
    .unwrap();
    assert_eq!(data.records.len(), proposals.len());
    for (i, (p, r)) in proposals.iter().zip(&data.records).enumerate() {
        assert_eq!(p["index"], i);
        let counts: Vec<u64> = p["rle"]["counts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap())
            .collect();
        let expected: Vec<u64> = r.rle.counts().iter().map(|&v| u64::from(v)).collect();
        assert_eq!(counts, expected, "proposal {i}");
        assert_eq!(counts.iter().sum::<u64>(), 300 * 451);
        let area: u64 = counts.iter().skip(1).step_by(2).sum();
        assert_eq!(p["area"], area);
        assert!(p["predicted_iou"].as_f64().unwrap() > 0.86);
        assert!(p["stability_score"].as_f64().unwrap() >= 0.92);
    }
    for (i, a) in proposals.iter().enumerate() {
        for b in &proposals[i + 1..] {
            let (ba, bb): (Vec<i64>, Vec<i64>) = (
                serde_json::from_value(a["bbox"].clone()).unwrap(),
                serde_json::from_value(b["bbox"].clone()).unwrap(),
            );
            assert!(box_iou(&ba, &bb) <= 0.7, "{ba:?} {bb:?}");
        }
    }

    // Accepting one is an ordinary instance, recorded in the history.
    let p = &proposals[0];
    let acc = c
        .post(
            "/api/images/1/instances",
            &json!({"rle": p["rle"], "score": p["predicted_iou"],
                    "prompts": {"auto": {"job": job["id"], "index": 0, "point": p["point"]}}}),
        )
        .await
        .unwrap();
    assert_eq!(acc.status, 201, "{}", String::from_utf8_lossy(&acc.body));
    let h = c.get("/api/history?image_id=1").await.unwrap().json();
    assert!(h.to_string().contains("alice"), "{h}");

    // Discarded: gone.
    assert_eq!(c.delete("/api/images/1/auto").await.unwrap().status, 204);
    assert_eq!(c.get("/api/images/1/auto").await.unwrap().status, 404);
    assert_eq!(c.delete("/api/images/1/auto").await.unwrap().status, 404);
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_are_replaced_and_cancelled_and_predictions_go_on_meanwhile() {
    let dir = chelsea_project();
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), Some(common::model_loader()), cache.path()).await;
    let c = s.client.as_user("bob");
    common::wait_all_encoded(&c, 120).await;

    // A long job (48² points), replaced by a short one: the first ends cancelled.
    let long = c
        .post("/api/images/1/auto", &json!({"points_per_side": 48}))
        .await
        .unwrap()
        .json()["job"]
        .clone();
    // While it runs, a prediction still gets a decoder session between its batches.
    let t = Instant::now();
    loop {
        let j = c.get("/api/images/1/auto?brief=true").await.unwrap().json()["job"].clone();
        if j["state"] == "running" || j["state"] == "done" {
            break;
        }
        assert!(t.elapsed().as_secs() < 60, "{j}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let p = json!({"points": [{"x": 225, "y": 150, "label": "positive"}]});
    let r = c.post("/api/images/1/predict", &p).await.unwrap();
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));

    let short = c
        .post("/api/images/1/auto", &json!({"points_per_side": 4}))
        .await
        .unwrap()
        .json()["job"]
        .clone();
    assert_ne!(short["id"], long["id"]);
    let seen = wait_finished(&c, 1, 300).await;
    let last = seen.last().unwrap();
    assert_eq!(last["id"], short["id"]);
    assert_eq!(last["state"], "done", "{last}");
    assert_eq!(last["points_total"], 16);

    // Discarding a running job stops it.
    c.post("/api/images/1/auto", &json!({"points_per_side": 48}))
        .await
        .unwrap();
    assert_eq!(c.delete("/api/images/1/auto").await.unwrap().status, 204);
    assert_eq!(c.get("/api/images/1/auto").await.unwrap().status, 404);
    // And the server is free for the next job at once.
    c.post("/api/images/1/auto", &json!({"points_per_side": 2}))
        .await
        .unwrap();
    let last = wait_finished(&c, 1, 120).await.pop().unwrap();
    assert_eq!(last["state"], "done", "{last}");
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_model_a_job_is_refused() {
    let dir = chelsea_project();
    let cache = tempfile::tempdir().unwrap();
    let s = start(dir.path(), None, cache.path()).await;
    let r = s
        .client
        .post("/api/images/1/auto", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    s.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_onnx_decoder_server_refuses_with_the_fix_named() {
    let dir = chelsea_project();
    let cache = tempfile::tempdir().unwrap();
    let home = samkit_assets::Home::from_env().unwrap();
    let assets = samkit_assets::ensure_default(&home, &samkit_assets::Progress::hidden()).unwrap();
    let spec = samkit_engine::ModelSpec {
        id: assets.model.id.clone(),
        encoder: assets.model.encoder.clone(),
        decoder: assets.model.decoder.clone(),
    };
    let loader = samkit_server::engine_loader(
        assets.ort_lib,
        spec,
        samkit_engine::EngineOptions {
            decoder: samkit_engine::DecoderBackend::Onnx,
            ..Default::default()
        },
    );
    let s = start(dir.path(), Some(loader), cache.path()).await;
    common::wait_all_encoded(&s.client, 120).await;
    let r = s
        .client
        .post("/api/images/1/auto", &json!({}))
        .await
        .unwrap();
    assert_eq!(r.status, 409, "{}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    assert_eq!(v["code"], "needs_native_decoder");
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("--decoder-backend onnx"),
        "{v}"
    );
    s.task.abort();
}
