//! The model as the server sees it: loaded in the background, a worker that encodes
//! images ahead of the annotator (the one asked for first, then the next ones in list
//! order), an in-memory LRU of embeddings over the on-disk [`EmbeddingCache`], and the
//! LRU of prediction tokens whose low-resolution logits feed refinements.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use samkit_engine::{
    image_hash, Embedding, EmbeddingCache, LowResLogits, PixelBudget, SamDecoder, SamModel,
};
use samkit_store::{Image, Store};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

pub use crate::encode_queue::EmbedState;
use crate::encode_queue::{Lru, Queue};

/// Loads the model (runs on a blocking thread at startup; called once more for each
/// extra decoder session). The error is shown to users.
pub type ModelLoader = Arc<dyn Fn() -> Result<Arc<SamModel>, String> + Send + Sync + 'static>;

/// Where the model is.
#[derive(Clone)]
pub enum ModelState {
    /// Started without a model: predictions answer 503.
    Disabled,
    Loading,
    Ready(Arc<SamModel>),
    Failed(String),
}

impl ModelState {
    pub fn to_json(&self) -> Value {
        match self {
            ModelState::Disabled => json!({"state": "disabled", "id": null, "error": null}),
            ModelState::Loading => json!({"state": "loading", "id": null, "error": null}),
            ModelState::Ready(m) => {
                let decoder = m.decoder();
                json!({"state": "ready", "id": m.id(), "error": null,
                       "decoder": decoder.backend().to_string(),
                       "decoder_notice": decoder.notice(),
                       "encoder": m.encoder_info()})
            }
            ModelState::Failed(e) => json!({"state": "failed", "id": null, "error": e}),
        }
    }
}

/// Why an embedding is not available.
pub enum EmbedWait {
    /// Still queued or encoding after the wait.
    NotReady(EmbedState),
    Failed(String),
    Model(ModelState),
}

/// Low-resolution logits of a prediction's candidates, kept for refinement.
#[derive(Clone)]
pub struct TokenEntry {
    pub image_id: i64,
    pub low_res: Arc<Vec<LowResLogits>>,
    /// The crop the logits were decoded on (zoom-in refinement); `None`: the whole image.
    pub frame: Option<samkit_engine::zoom::Crop>,
}

pub struct Engine {
    model: RwLock<ModelState>,
    pub(crate) cache: EmbeddingCache,
    cache_dir: PathBuf,
    pub(crate) store: Store,
    project_id: i64,
    pub(crate) root: PathBuf,
    pub(crate) windows: crate::source::Windows,
    prefetch: usize,
    q: Mutex<Queue>,
    wake: Notify,
    changed: watch::Sender<u64>,
    mem: Mutex<Lru<i64, Arc<Embedding>>>,
    tokens: Mutex<Lru<String, TokenEntry>>,
    /// Embeddings of crops, for zoom-in refinement.
    pub(crate) crops: crate::crops::Crops,
    next_token: Mutex<u64>,
    /// Decoder pool: each `SamDecoder` is one decoder session behind a lock, so
    /// concurrent prompts use several (free list + permits). The first is the model's
    /// own; the others are decoder-only sessions (the encoder is loaded once).
    pool: Mutex<Vec<Arc<SamDecoder>>>,
    pool_permits: Arc<tokio::sync::Semaphore>,
    decoders: usize,
    /// The most pixels an image may declare before the encoder decodes it.
    pub(crate) budget: PixelBudget,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Engine {
    #[allow(clippy::too_many_arguments)] // one per `Config` field the engine uses
    pub fn new(
        store: Store,
        project_id: i64,
        root: PathBuf,
        windows: crate::source::Windows,
        cache_dir: PathBuf,
        prefetch: usize,
        decoders: usize,
        budget: PixelBudget,
        with_model: bool,
    ) -> Arc<Self> {
        Arc::new(Engine {
            model: RwLock::new(if with_model {
                ModelState::Loading
            } else {
                ModelState::Disabled
            }),
            cache: EmbeddingCache::new(&cache_dir),
            cache_dir,
            store,
            project_id,
            root,
            windows,
            prefetch,
            q: Mutex::new(Queue::default()),
            wake: Notify::new(),
            changed: watch::Sender::new(0),
            mem: Mutex::new(Lru::new(8)),
            tokens: Mutex::new(Lru::new(64)),
            crops: Default::default(),
            next_token: Mutex::new(0),
            pool: Mutex::new(Vec::new()),
            pool_permits: Arc::new(tokio::sync::Semaphore::new(0)),
            decoders: decoders.max(1),
            budget,
        })
    }

    pub fn model(&self) -> ModelState {
        self.model.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn bump(&self) {
        self.changed.send_modify(|n| *n += 1);
    }

    /// Loads the model on a blocking thread, then starts encoding.
    pub fn start(self: &Arc<Self>, loader: Option<ModelLoader>) {
        let me = self.clone();
        tokio::spawn(async move {
            if let Some(loader) = loader {
                let t = Instant::now();
                let state = match tokio::task::spawn_blocking(move || loader()).await {
                    Ok(Ok(m)) => {
                        let decoder = m.decoder();
                        let encoder = m.encoder_info();
                        tracing::info!(
                            "model {} ready in {:.1} s (encoder {} {}, {} decoder)",
                            m.id(),
                            t.elapsed().as_secs_f32(),
                            encoder.backend,
                            encoder.precision,
                            decoder.backend()
                        );
                        for notice in m.notices() {
                            tracing::warn!("{notice}");
                        }
                        ModelState::Ready(m)
                    }
                    Ok(Err(e)) => ModelState::Failed(e),
                    Err(e) => ModelState::Failed(format!("model loading crashed: {e}")),
                };
                if let ModelState::Failed(e) = &state {
                    tracing::error!("model failed to load: {e}");
                }
                if let ModelState::Ready(m) = &state {
                    me.add_decoder(m.decoder());
                    let extra = me.clone();
                    let model = m.clone();
                    tokio::spawn(async move {
                        for _ in 1..extra.decoders {
                            let m = model.clone();
                            match tokio::task::spawn_blocking(move || m.load_decoder()).await {
                                Ok(Ok(d)) => extra.add_decoder(Arc::new(d)),
                                _ => {
                                    tracing::warn!("could not load an extra decoder session; continuing with fewer");
                                    break;
                                }
                            }
                        }
                    });
                }
                *me.model.write().unwrap_or_else(|e| e.into_inner()) = state;
                if let Ok(images) = me.store.list_images(me.project_id).await {
                    me.refresh(&images);
                }
                me.bump();
                me.wake.notify_one();
            }
            me.run().await;
        });
    }

    fn cache_file(&self, model_id: &str, hash: &str) -> PathBuf {
        // The engine's cache layout: `<dir>/<model id>/<pixel hash>.emb`.
        self.cache_dir.join(model_id).join(format!("{hash}.emb"))
    }

    /// Updates list order and on-disk readiness from the image table (after a scan).
    pub fn refresh(&self, images: &[Image]) {
        let model_id = match self.model() {
            ModelState::Ready(m) => Some(m.id().to_string()),
            _ => None,
        };
        let mut q = lock(&self.q);
        q.order = images.iter().filter(|i| !i.missing).map(|i| i.id).collect();
        if let Some(mid) = model_id {
            for i in images {
                let on_disk = i
                    .pixel_hash
                    .as_deref()
                    .is_some_and(|h| self.cache_file(&mid, h).is_file());
                if on_disk && !i.missing {
                    q.ready.insert(i.id);
                } else {
                    q.ready.remove(&i.id);
                }
            }
        }
        drop(q);
        self.bump();
        self.wake.notify_one();
    }

    pub fn state(&self, id: i64) -> EmbedState {
        lock(&self.q).state(id, self.prefetch)
    }

    /// Asks for an image: `now` puts it first and makes it the one being viewed.
    pub fn request(&self, id: i64, now: bool) -> EmbedState {
        let mut q = lock(&self.q);
        if now {
            q.failed.remove(&id);
            q.viewing = Some(id);
            q.urgent.retain(|&x| x != id);
            q.urgent.push_front(id);
        } else if !q.urgent.contains(&id) {
            q.urgent.push_back(id);
        }
        let s = q.state(id, self.prefetch);
        drop(q);
        self.bump();
        self.wake.notify_one();
        s
    }

    /// Queue and progress for `GET /api/embeddings`.
    pub fn progress(&self, images: &[Image]) -> Value {
        let q = lock(&self.q);
        let states: serde_json::Map<String, Value> = images
            .iter()
            .map(|i| {
                (
                    i.id.to_string(),
                    json!(q.state(i.id, self.prefetch).as_str()),
                )
            })
            .collect();
        let ready = images.iter().filter(|i| q.ready.contains(&i.id)).count();
        let mut queued: Vec<i64> = q.urgent.iter().copied().filter(|&i| q.wanted(i)).collect();
        for id in q.window(self.prefetch) {
            if q.wanted(id) && !queued.contains(&id) {
                queued.push(id);
            }
        }
        if let Some((e, _)) = &q.encoding {
            queued.retain(|x| x != e);
        }
        json!({
            "model": self.model().to_json(),
            "total": images.iter().filter(|i| !i.missing).count(),
            "ready": ready,
            "encoding": q.encoding.as_ref().map(|(id, at)| json!({"image_id": id, "started_at": at})),
            "queued": queued,
            "failed": q.failed.iter().map(|(id, e)| json!({"image_id": id, "error": e})).collect::<Vec<_>>(),
            "states": states,
        })
    }

    /// The embedding of image `id`, waiting up to `wait` for it to be encoded.
    pub async fn embedding(&self, id: i64, wait: Duration) -> Result<Arc<Embedding>, EmbedWait> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut rx = self.changed.subscribe();
        let mut asked = false;
        loop {
            let model = match self.model() {
                ModelState::Ready(m) => m,
                ModelState::Loading => {
                    // Wait for the model within the same deadline.
                    rx.borrow_and_update();
                    if !matches!(self.model(), ModelState::Loading) {
                        continue;
                    }
                    match tokio::time::timeout_at(deadline, rx.changed()).await {
                        Ok(Ok(())) => continue,
                        _ => return Err(EmbedWait::Model(self.model())),
                    }
                }
                other => return Err(EmbedWait::Model(other)),
            };
            if let Some(e) = lock(&self.mem).get(&id) {
                return Ok(e);
            }
            let state = self.state(id);
            match state {
                EmbedState::Ready => {
                    if let Some(e) = self.load_cached(id, model.id()).await {
                        return Ok(e);
                    }
                    // Unreadable cache entry: encode again.
                    lock(&self.q).ready.remove(&id);
                    self.request(id, true);
                    asked = true;
                }
                EmbedState::Failed => {
                    let msg = lock(&self.q).failed.get(&id).cloned().unwrap_or_default();
                    return Err(EmbedWait::Failed(msg));
                }
                _ if !asked => {
                    self.request(id, true);
                    asked = true;
                }
                _ => {}
            }
            rx.borrow_and_update();
            if self.state(id) == EmbedState::Ready || lock(&self.mem).get(&id).is_some() {
                continue;
            }
            match tokio::time::timeout_at(deadline, rx.changed()).await {
                Ok(Ok(())) => {}
                _ => return Err(EmbedWait::NotReady(self.state(id))),
            }
        }
    }

    async fn load_cached(&self, id: i64, model_id: &str) -> Option<Arc<Embedding>> {
        let hash = self.store.image(id).await.ok()?.pixel_hash?;
        let cache = self.cache.clone();
        let mid = model_id.to_string();
        let e = tokio::task::spawn_blocking(move || cache.load(&mid, &hash))
            .await
            .ok()??;
        let e = Arc::new(e);
        lock(&self.mem).insert(id, e.clone());
        Some(e)
    }

    async fn run(self: Arc<Self>) {
        loop {
            let model = match self.model() {
                ModelState::Ready(m) => m,
                ModelState::Loading => {
                    self.wake.notified().await;
                    continue;
                }
                _ => return,
            };
            let next = lock(&self.q).pick(self.prefetch);
            let Some(id) = next else {
                self.wake.notified().await;
                continue;
            };
            let image = match self.store.image(id).await {
                Ok(i) => i,
                Err(e) => {
                    lock(&self.q).failed.insert(id, e.to_string());
                    continue;
                }
            };
            let started = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
            lock(&self.q).encoding = Some((id, started));
            self.bump();
            let source = crate::source::ImageSource::of(&self.root, &image.path, &self.windows);
            let cache = self.cache.clone();
            let m = model.clone();
            let t = Instant::now();
            let budget = self.budget;
            let used = source.clone();
            let res = tokio::task::spawn_blocking(move || encode(&m, &cache, &source, budget))
                .await
                .unwrap_or_else(|e| Err(format!("encoder crashed: {e}")));
            if self.windows.get(&used.relative) != used.window {
                // The volume's window changed while this slice was encoded: those pixels
                // are no longer the image's, and it is encoded again.
                lock(&self.q).encoding = None;
                self.bump();
                continue;
            }
            match res {
                Ok((e, hash, cached)) => {
                    tracing::info!(
                        "image {} ({}) {} in {:.2} s",
                        id,
                        image.path,
                        if cached {
                            "loaded from the cache"
                        } else {
                            "encoded"
                        },
                        t.elapsed().as_secs_f32()
                    );
                    lock(&self.mem).insert(id, Arc::new(e));
                    if image.pixel_hash.as_deref() != Some(hash.as_str()) {
                        if let Err(e) = self.store.set_pixel_hash(id, &hash).await {
                            tracing::warn!("could not record the pixel hash of image {id}: {e}");
                        }
                    }
                    let mut q = lock(&self.q);
                    q.ready.insert(id);
                    q.encoding = None;
                }
                Err(msg) => {
                    tracing::warn!("cannot encode image {id} ({}): {msg}", image.path);
                    let mut q = lock(&self.q);
                    q.failed.insert(id, msg);
                    q.encoding = None;
                }
            }
            self.bump();
        }
    }

    fn add_decoder(&self, m: Arc<SamDecoder>) {
        lock(&self.pool).push(m);
        self.pool_permits.add_permits(1);
    }

    /// Runs `f` on a free decoder session of the pool (waits for one) on a blocking
    /// thread. `None` when the model is not loaded.
    pub async fn decode<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&SamDecoder) -> R + Send + 'static,
    ) -> Option<R> {
        if !matches!(self.model(), ModelState::Ready(_)) {
            return None;
        }
        let permit = self.pool_permits.clone().acquire_owned().await.ok()?;
        let model = lock(&self.pool).pop()?;
        // The lease lives in the blocking task, so a request cancelled mid-decode (client
        // gone) still returns the session to the pool when the decode ends.
        let lease = Lease {
            engine: self.clone(),
            model: Some(model),
            _permit: permit,
        };
        tokio::task::spawn_blocking(move || {
            let m = lease.model.clone()?;
            Some(f(&m))
        })
        .await
        .ok()
        .flatten()
    }

    /// Stores a prediction's low-resolution logits and returns their token.
    pub fn put_token(&self, entry: TokenEntry) -> String {
        let token = {
            let mut n = lock(&self.next_token);
            *n += 1;
            format!("p-{}", *n)
        };
        lock(&self.tokens).insert(token.clone(), entry);
        token
    }

    pub fn token(&self, token: &str) -> Option<TokenEntry> {
        lock(&self.tokens).get(&token.to_string())
    }

    /// Forgets an image's in-memory embedding (its file changed).
    pub fn forget(&self, id: i64) {
        lock(&self.mem).remove(&id);
        self.crops.forget(id);
        let mut q = lock(&self.q);
        q.ready.remove(&id);
        q.failed.remove(&id);
    }
}

/// A decoder session taken from the pool; given back on drop (before its permit).
struct Lease {
    engine: Arc<Engine>,
    model: Option<Arc<SamDecoder>>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(m) = self.model.take() {
            lock(&self.engine.pool).push(m);
        }
    }
}

fn encode(
    model: &SamModel,
    cache: &EmbeddingCache,
    source: &crate::source::ImageSource,
    budget: PixelBudget,
) -> Result<(Embedding, String, bool), String> {
    let img = source.load_rgb(budget).map_err(|e| e.to_string())?;
    let hash = image_hash(&img);
    // The decoder's per-image work is done here, in the background, so that the first
    // click on the image is as fast as the next ones.
    if let Some(e) = cache.load(model.id(), &hash) {
        if (e.original.width, e.original.height) == (img.width(), img.height()) {
            model.prepare(&e).map_err(|e| e.to_string())?;
            return Ok((e, hash, true));
        }
    }
    let e = model.embed(&img).map_err(|e| e.to_string())?;
    cache.store(&hash, &e).map_err(|e| e.to_string())?;
    model.prepare(&e).map_err(|e| e.to_string())?;
    Ok((e, hash, false))
}
