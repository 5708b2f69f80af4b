//! A bounded load generator for the web app (loopback only): simulated annotators
//! that prompt, refine once and accept instances, as the UI does. Used by
//! `examples/load_test.rs` and a short automated test.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{json, Value};

use crate::client::Client;

/// What a load run measured.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LoadReport {
    pub clients: usize,
    pub seconds: f64,
    pub predicts: usize,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Server-side decode time (median), to separate queueing from compute.
    pub decode_p50_ms: f64,
    pub instances_acked: Vec<i64>,
    pub errors: Vec<String>,
}

/// Resident memory of a process, from `/proc/PID/status` (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Memory {
    /// Peak resident set (`VmHWM`), MiB.
    pub peak_rss_mib: u64,
    /// Current resident set (`VmRSS`), MiB.
    pub rss_mib: u64,
}

/// The resident memory of process `pid` (`None`: this process); `None` where
/// `/proc` is not available.
pub fn memory(pid: Option<u32>) -> Option<Memory> {
    let path = match pid {
        Some(p) => format!("/proc/{p}/status"),
        None => "/proc/self/status".into(),
    };
    parse_status(&std::fs::read_to_string(path).ok()?)
}

fn parse_status(status: &str) -> Option<Memory> {
    let kib = |key: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(key))?;
        line[key.len()..]
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    };
    Some(Memory {
        peak_rss_mib: kib("VmHWM:")? / 1024,
        rss_mib: kib("VmRSS:")? / 1024,
    })
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Runs `clients` annotators for `seconds` as `base` (its address must be a loopback
/// one: the generator refuses anything else; its token signs the requests in).
pub async fn run(base: Client, clients: usize, seconds: f64) -> Result<LoadReport, String> {
    let addr = base.addr;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "refusing to load-test {addr}: only loopback addresses are allowed"
        ));
    }
    let images = base
        .get("/api/images")
        .await
        .map_err(|e| e.to_string())?
        .json();
    let images: Vec<(i64, f64, f64)> = images["images"]
        .as_array()
        .ok_or("no image list")?
        .iter()
        .filter(|i| i["missing"] == false)
        .filter_map(|i| {
            Some((
                i["id"].as_i64()?,
                i["width"].as_f64()?,
                i["height"].as_f64()?,
            ))
        })
        .collect();
    if images.is_empty() {
        return Err("the project has no images".into());
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let t0 = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..clients {
        let client = base.as_user(&format!("load-{c}"));
        let images = images.clone();
        tasks.push(tokio::spawn(async move {
            annotator(client, c, images, deadline).await
        }));
    }
    let mut lat = Vec::new();
    let mut dec = Vec::new();
    let mut report = LoadReport {
        clients,
        ..Default::default()
    };
    for t in tasks {
        match t.await {
            Ok(r) => {
                lat.extend(r.0);
                dec.extend(r.1);
                report.instances_acked.extend(r.2);
                report.errors.extend(r.3);
            }
            Err(e) => report.errors.push(format!("client task failed: {e}")),
        }
    }
    report.seconds = t0.elapsed().as_secs_f64();
    lat.sort_by(f64::total_cmp);
    dec.sort_by(f64::total_cmp);
    report.predicts = lat.len();
    report.p50_ms = percentile(&lat, 0.5);
    report.p95_ms = percentile(&lat, 0.95);
    report.max_ms = lat.last().copied().unwrap_or(0.0);
    report.decode_p50_ms = percentile(&dec, 0.5);
    Ok(report)
}

type ClientResult = (Vec<f64>, Vec<f64>, Vec<i64>, Vec<String>);

async fn annotator(
    client: Client,
    c: usize,
    images: Vec<(i64, f64, f64)>,
    deadline: Instant,
) -> ClientResult {
    let (mut lat, mut dec, mut acked, mut errors) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Deterministic per-client pseudo-random clicks.
    let mut seed = 0x9e37_79b9_7f4a_7c15u64 ^ (c as u64).wrapping_mul(0x2545_f491_4f6c_dd1d);
    let mut rnd = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed >> 11) as f64 / (1u64 << 53) as f64
    };
    let mut n = 0usize;
    while Instant::now() < deadline {
        let (id, w, h) = images[(c + n) % images.len()];
        n += 1;
        let x = (0.2 + 0.6 * rnd()) * w;
        let y = (0.2 + 0.6 * rnd()) * h;
        let path = format!("/api/images/{id}/predict");
        let mut body = json!({"points": [{"x": x, "y": y, "label": "positive"}]});
        let mut last: Option<Value> = None;
        for step in 0..2 {
            let t = Instant::now();
            match client.post(&path, &body).await {
                Ok(r) if r.status == 200 => {
                    lat.push(t.elapsed().as_secs_f64() * 1e3);
                    let v = r.json();
                    dec.push(v["decode_ms"].as_f64().unwrap_or(0.0));
                    if step == 0 {
                        let x2 = (0.2 + 0.6 * rnd()) * w;
                        let y2 = (0.2 + 0.6 * rnd()) * h;
                        // As the web app: candidates for the first click, one mask
                        // for a refinement.
                        body = json!({"points": [{"x": x, "y": y, "label": "positive"},
                                                 {"x": x2, "y": y2, "label": "negative"}],
                                      "prev": {"token": v["token"], "candidate": 0},
                                      "multimask": false});
                    }
                    last = Some(v);
                }
                Ok(r) => {
                    errors.push(format!(
                        "predict {}: {}",
                        r.status,
                        String::from_utf8_lossy(&r.body)
                    ));
                    break;
                }
                Err(e) => {
                    errors.push(format!("predict: {e}"));
                    break;
                }
            }
        }
        let Some(v) = last else { continue };
        let cand = &v["candidates"][0];
        if cand["area"].as_u64().unwrap_or(0) == 0 {
            continue;
        }
        let inst = json!({"rle": cand["rle"], "score": cand["iou"],
                          "prompts": {"points": [{"x": x, "y": y, "label": "positive"}]},
                          "client_id": format!("load-{c}-{n}")});
        match client
            .post(&format!("/api/images/{id}/instances"), &inst)
            .await
        {
            Ok(r) if r.status == 201 || r.status == 200 => {
                if let Some(i) = r.json()["id"].as_i64() {
                    acked.push(i);
                }
            }
            Ok(r) => errors.push(format!(
                "accept {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
            )),
            Err(e) => errors.push(format!("accept: {e}")),
        }
    }
    (lat, dec, acked, errors)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_memory_is_read_from_proc_status() {
        let m = parse_status("Name:\tx\nVmHWM:\t  409600 kB\nVmRSS:\t  204800 kB\n").unwrap();
        assert_eq!((m.peak_rss_mib, m.rss_mib), (400, 200));
        assert!(parse_status("Name: x\n").is_none());
        if cfg!(target_os = "linux") {
            let me = memory(None).unwrap();
            assert!(me.rss_mib > 0 && me.peak_rss_mib >= me.rss_mib);
        }
    }
}
