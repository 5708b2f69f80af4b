//! "Segment everything" in the web app: segment-anything's automatic mask generator
//! (`samkit-auto`) run in the background on one image, its progress, and its results as
//! proposals the annotator accepts or discards.
//!
//! One job per image (a new one replaces and cancels the old); jobs run one at a time
//! (each is hundreds of decoder passes) and take a decoder session from the pool for one
//! batch of points at a time, so interactive predictions still get a session between
//! batches. The whole image's embedding is the one the engine already has (crop layers
//! are not offered here; `samkit auto` has them). Finished jobs keep their proposals in
//! memory for the last [`KEPT_JOBS`] images.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use image::RgbImage;
use samkit_auto::{generate, multimask_outputs, AutoError, AutoParams, PointDecoder, Proposal};
use samkit_engine::{upscale_logits, Embedding, LowResLogits};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::engine::{EmbedWait, Engine};

/// Images whose finished jobs (and proposals) are kept.
pub const KEPT_JOBS: usize = 8;
/// How long a job waits for the image's embedding.
const EMBED_WAIT: Duration = Duration::from_secs(600);

/// The parameters the web app offers; the others are SAM's defaults.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoRequest {
    #[serde(default = "default_points_per_side")]
    pub points_per_side: u32,
    #[serde(default = "default_pred_iou_thresh")]
    pub pred_iou_thresh: f64,
    #[serde(default = "default_stability_score_thresh")]
    pub stability_score_thresh: f64,
}

fn default_points_per_side() -> u32 {
    32
}
fn default_pred_iou_thresh() -> f64 {
    0.88
}
fn default_stability_score_thresh() -> f64 {
    0.95
}

impl Default for AutoRequest {
    fn default() -> Self {
        AutoRequest {
            points_per_side: default_points_per_side(),
            pred_iou_thresh: default_pred_iou_thresh(),
            stability_score_thresh: default_stability_score_thresh(),
        }
    }
}

impl AutoRequest {
    /// Checked against the ranges the web app allows (a 64×64 grid is 4096 points,
    /// about a minute on a laptop); the message names the field and its range.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=64).contains(&self.points_per_side) {
            return Err(format!(
                "points_per_side is {}; it must be 1 to 64 (SAM's default is 32)",
                self.points_per_side
            ));
        }
        for (name, v) in [
            ("pred_iou_thresh", self.pred_iou_thresh),
            ("stability_score_thresh", self.stability_score_thresh),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("{name} is {v}; it must be between 0 and 1"));
            }
        }
        Ok(())
    }

    pub fn params(&self) -> AutoParams {
        AutoParams {
            points_per_side: Some(self.points_per_side),
            pred_iou_thresh: self.pred_iou_thresh,
            stability_score_thresh: self.stability_score_thresh,
            // A large image's small objects are looked for on full-resolution tiles.
            tiles: samkit_auto::TileMode::Auto,
            ..AutoParams::default()
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Waiting for another image's job to finish.
    Queued,
    /// Waiting for the image's embedding.
    Encoding,
    Running,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Encoding => "encoding",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
    pub fn finished(self) -> bool {
        matches!(
            self,
            JobState::Done | JobState::Failed | JobState::Cancelled
        )
    }
}

struct Progress {
    state: JobState,
    done: usize,
    total: usize,
    error: Option<String>,
    seconds: Option<f64>,
    /// The kept masks as API proposals, in SAM's record order.
    proposals: Option<Arc<Vec<Value>>>,
}

/// One "segment everything" run on one image.
pub struct AutoJob {
    pub id: u64,
    pub image_id: i64,
    pub request: AutoRequest,
    started: Instant,
    progress: Mutex<Progress>,
    cancel: AtomicBool,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl AutoJob {
    pub fn state(&self) -> JobState {
        lock(&self.progress).state
    }

    fn set(&self, f: impl FnOnce(&mut Progress)) {
        let mut p = lock(&self.progress);
        if !p.state.finished() {
            f(&mut p);
        }
    }

    fn finish(&self, result: Result<Vec<Value>, String>) {
        let seconds = self.started.elapsed().as_secs_f64();
        self.set(|p| {
            p.seconds = Some(seconds);
            match result {
                Ok(list) => {
                    p.state = JobState::Done;
                    p.done = p.total;
                    p.proposals = Some(Arc::new(list));
                }
                Err(_) if self.cancel.load(Ordering::Relaxed) => p.state = JobState::Cancelled,
                Err(e) => {
                    p.state = JobState::Failed;
                    p.error = Some(e);
                }
            }
        });
    }

    /// Asks the job to stop (at the next batch of points).
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64();
        self.set(|p| {
            p.state = JobState::Cancelled;
            p.seconds = Some(seconds);
        });
    }

    /// The job as the API shows it; proposals only once done (`with_proposals`).
    pub fn to_json(&self, with_proposals: bool) -> Value {
        let p = lock(&self.progress);
        let mut v = json!({
            "id": self.id,
            "image_id": self.image_id,
            "state": p.state.as_str(),
            "points_done": p.done,
            "points_total": p.total,
            "params": {
                "points_per_side": self.request.points_per_side,
                "pred_iou_thresh": self.request.pred_iou_thresh,
                "stability_score_thresh": self.request.stability_score_thresh,
            },
            "error": p.error,
            "seconds": p.seconds.unwrap_or_else(|| self.started.elapsed().as_secs_f64()),
            "proposal_count": p.proposals.as_ref().map(|l| l.len()),
        });
        if with_proposals {
            if let Some(list) = &p.proposals {
                v["proposals"] = Value::Array(list.as_ref().clone());
            }
        }
        v
    }
}

/// The jobs of the server, by image.
pub struct AutoJobs {
    jobs: Mutex<Vec<Arc<AutoJob>>>,
    next_id: AtomicU64,
    /// One job runs at a time.
    running: Arc<tokio::sync::Semaphore>,
}

impl Default for AutoJobs {
    fn default() -> Self {
        AutoJobs {
            jobs: Mutex::new(Vec::new()),
            next_id: AtomicU64::new(1),
            running: Arc::new(tokio::sync::Semaphore::new(1)),
        }
    }
}

impl AutoJobs {
    /// The newest job of an image.
    pub fn get(&self, image_id: i64) -> Option<Arc<AutoJob>> {
        lock(&self.jobs)
            .iter()
            .rev()
            .find(|j| j.image_id == image_id)
            .cloned()
    }

    /// Cancels and forgets the image's job; false when it had none.
    pub fn discard(&self, image_id: i64) -> bool {
        remove_image(&mut lock(&self.jobs), image_id)
    }

    /// Asks every job to stop (the server is shutting down).
    pub fn cancel_all(&self) {
        for job in lock(&self.jobs).iter() {
            job.cancel();
        }
    }

    /// Starts a job on `image` (replacing the image's previous one) and returns it.
    pub fn start(
        &self,
        engine: Arc<Engine>,
        image: samkit_store::Image,
        source: crate::source::ImageSource,
        budget: samkit_engine::PixelBudget,
        request: AutoRequest,
    ) -> Arc<AutoJob> {
        let job = Arc::new(AutoJob {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            image_id: image.id,
            request,
            started: Instant::now(),
            progress: Mutex::new(Progress {
                state: JobState::Queued,
                done: 0,
                total: (request.points_per_side as usize).pow(2),
                error: None,
                seconds: None,
                proposals: None,
            }),
            cancel: AtomicBool::new(false),
        });
        {
            let mut jobs = lock(&self.jobs);
            remove_image(&mut jobs, image.id);
            jobs.push(job.clone());
            // Forget the oldest finished jobs beyond the limit (running ones stay).
            while jobs.len() > KEPT_JOBS {
                match jobs.iter().position(|j| j.state().finished()) {
                    Some(i) => {
                        jobs.remove(i);
                    }
                    None => break,
                }
            }
        }
        let running = self.running.clone();
        let j = job.clone();
        tokio::spawn(async move {
            let result = run(&j, engine, image, source, budget, running).await;
            j.finish(result);
        });
        job
    }
}

/// Cancels and removes the jobs of an image; true when it had one.
fn remove_image(jobs: &mut Vec<Arc<AutoJob>>, image_id: i64) -> bool {
    let before = jobs.len();
    jobs.retain(|j| {
        let mine = j.image_id == image_id;
        if mine {
            j.cancel();
        }
        !mine
    });
    jobs.len() != before
}

async fn run(
    job: &Arc<AutoJob>,
    engine: Arc<Engine>,
    image: samkit_store::Image,
    source: crate::source::ImageSource,
    budget: samkit_engine::PixelBudget,
    running: Arc<tokio::sync::Semaphore>,
) -> Result<Vec<Value>, String> {
    let _permit = running.acquire_owned().await.map_err(|e| e.to_string())?;
    if job.cancel.load(Ordering::Relaxed) {
        return Err("cancelled".into());
    }
    job.set(|p| p.state = JobState::Encoding);
    engine.request(image.id, false);
    let embedding = match engine.embedding(image.id, EMBED_WAIT).await {
        Ok(e) => e,
        Err(EmbedWait::Failed(msg)) => {
            return Err(format!("{} could not be encoded: {msg}", image.path))
        }
        Err(EmbedWait::NotReady(s)) => {
            return Err(format!(
                "{} was not encoded in time ({}); try again",
                image.path,
                s.as_str()
            ))
        }
        Err(EmbedWait::Model(m)) => {
            return Err(format!(
                "the model is not ready ({}); try again when it is",
                m.to_json()["state"].as_str().unwrap_or("?")
            ))
        }
    };
    if job.cancel.load(Ordering::Relaxed) {
        return Err("cancelled".into());
    }
    job.set(|p| p.state = JobState::Running);
    let handle = tokio::runtime::Handle::current();
    let job2 = job.clone();
    tokio::task::spawn_blocking(move || {
        let rgb = source.load_rgb(budget).map_err(|e| e.to_string())?;
        let size = (rgb.width(), rgb.height());
        if size != (embedding.original.width, embedding.original.height) {
            return Err(format!(
                "{} changed on disk since it was encoded; rescan and try again",
                image.path
            ));
        }
        let decoder = PooledDecoder {
            engine,
            handle,
            embedding,
            job: &job2,
        };
        let params = job2.request.params();
        let data = generate(&decoder, &rgb, &params, |stage| {
            if let samkit_auto::Stage::Points { done, total } = stage {
                job2.set(|p| {
                    p.done = done;
                    p.total = total;
                });
            }
        })
        .map_err(|e| e.to_string())?;
        Ok(data
            .records
            .iter()
            .enumerate()
            .map(|(i, r)| proposal_json(i, r))
            .collect())
    })
    .await
    .map_err(|e| format!("the job crashed: {e}"))?
}

/// A kept mask as the API shows it: uncompressed RLE (as instances), SAM's record fields
/// (`bbox` XYWH, as SAM's records and COCO).
fn proposal_json(index: usize, r: &samkit_auto::MaskRecord) -> Value {
    json!({
        "index": index,
        "rle": {"size": [r.rle.height(), r.rle.width()], "counts": r.rle.counts()},
        "area": r.rle.area(),
        "bbox": [r.bbox[0], r.bbox[1], r.bbox[2] - r.bbox[0], r.bbox[3] - r.bbox[1]],
        "predicted_iou": r.predicted_iou,
        "stability_score": r.stability_score,
        "point": r.point,
    })
}

/// The generator's decoder in the server: the engine's embedding of the whole image,
/// and one pooled decoder session per batch of points.
struct PooledDecoder<'a> {
    engine: Arc<Engine>,
    handle: tokio::runtime::Handle,
    embedding: Arc<Embedding>,
    job: &'a AutoJob,
}

impl PointDecoder for PooledDecoder<'_> {
    type Embedding = Arc<Embedding>;
    type LowRes = LowResLogits;

    fn embed(&self, _crop: &RgbImage, whole_image: bool) -> samkit_auto::Result<Arc<Embedding>> {
        if !whole_image {
            return Err(AutoError::Param(
                "the web app segments the whole image only (crop layers: use `samkit auto`)".into(),
            ));
        }
        Ok(self.embedding.clone())
    }

    fn decode_multimask(
        &self,
        embedding: &Arc<Embedding>,
        points: &[[f64; 2]],
    ) -> samkit_auto::Result<Vec<[Proposal<LowResLogits>; 3]>> {
        if self.job.cancel.load(Ordering::Relaxed) {
            return Err(AutoError::Cancelled);
        }
        let (emb, points) = (embedding.clone(), points.to_vec());
        self.handle
            .block_on(
                self.engine
                    .decode(move |d| multimask_outputs(d, &emb, &points)),
            )
            .unwrap_or_else(|| {
                Err(AutoError::Decoder(
                    "the model is not loaded; try again when it is".into(),
                ))
            })
    }

    fn upscale(&self, embedding: &Arc<Embedding>, low_res: &LowResLogits) -> Vec<f32> {
        upscale_logits(low_res, embedding.original).data
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_checked_with_the_field_named() {
        assert!(AutoRequest::default().check().is_ok());
        let bad = AutoRequest {
            points_per_side: 0,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("points_per_side"));
        let bad = AutoRequest {
            points_per_side: 65,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("1 to 64"));
        let bad = AutoRequest {
            stability_score_thresh: f64::NAN,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("stability_score_thresh"));
        let bad = AutoRequest {
            pred_iou_thresh: 1.5,
            ..Default::default()
        };
        assert!(bad.check().unwrap_err().contains("pred_iou_thresh"));
    }

    #[test]
    fn defaults_are_sams() {
        // SAM's, plus full-resolution tiles for images larger than 2048 px.
        let p = AutoRequest::default().params();
        assert_eq!(
            p,
            AutoParams {
                tiles: samkit_auto::TileMode::Auto,
                ..AutoParams::default()
            }
        );
        let r: AutoRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(r, AutoRequest::default());
        assert!(serde_json::from_str::<AutoRequest>(r#"{"crop_n_layers": 1}"#).is_err());
    }

    #[test]
    fn a_cancelled_job_stays_cancelled() {
        let job = AutoJob {
            id: 1,
            image_id: 1,
            request: AutoRequest::default(),
            started: Instant::now(),
            progress: Mutex::new(Progress {
                state: JobState::Running,
                done: 0,
                total: 1024,
                error: None,
                seconds: None,
                proposals: None,
            }),
            cancel: AtomicBool::new(false),
        };
        job.cancel();
        job.finish(Ok(vec![json!({})]));
        let v = job.to_json(true);
        assert_eq!(v["state"], "cancelled");
        assert!(v.get("proposals").is_none());
    }
}
