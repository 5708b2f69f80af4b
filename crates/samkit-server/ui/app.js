// samkit annotation app: wires the API, the canvas viewer, the instance list and the
// keyboard shortcuts together. State lives in `S`; every network failure ends up in a
// visible banner (showError) — nothing fails silently.

import { Api, ApiError } from './api.js';
import { decodeRle, encodeRle, maskArea, maskBbox, maskToImageData, hexToRgb } from './rle.js';
import { Viewer } from './viewer.js';
import { escapeHtml } from './markdown.js';
import { UndoStack } from './undo.js';
import { $, tid, fmtInt, showBanner, hideBanner, showInfo, overlay, saveResponse } from './dom.js';
import { compositeInstances, dab } from './paint.js';
import { shortcutHandler } from './keys.js';
import { Proposals } from './proposals.js';
import { renderGuidelines, bindGuidelinesEditor } from './guidelines.js';

const DEFAULT_EXPORT_FORMATS = ['coco', 'coco-polygons', 'png', 'npy', 'yolo', 'voc'];
const STATUS_LABEL = { todo: 'todo', in_progress: 'in progress', done: 'done', needs_review: 'needs review' };

const api = new Api();
const params = new URLSearchParams(location.search);

const EMPTY_PROMPT = Object.freeze({ points: [], box: null, result: null, sel: 0, mask: null, edited: false, iou: null });

const S = {
  project: null,
  images: [],
  categories: [],
  index: -1, // index in S.images of the image being edited
  image: null,
  imageReady: false,
  instances: [],
  maskCache: new Map(), // `${id}:${version}` -> Uint8Array
  hidden: new Set(), // instance ids hidden in the view
  hideAll: false,
  prompt: EMPTY_PROMPT,
  tool: 'prompt',
  brush: 12, // radius in image pixels
  categoryId: null,
  opacity: 0.55,
  predictSeq: 0,
  predicting: 0, // predictSeq of the request in flight (0: none)
  embeddings: null,
  lastTiming: null,
  openSeq: 0,
  deletedVersions: new Map(), // instance id -> version of the deleted row (for restore)
  lastHistoryId: null,
  scrolledTo: null, // image index last scrolled into view in the list
  statesKey: '', // last embedding states rendered in the image list
};

const undo = new UndoStack(() => updateButtons());

// ------------------------------------------------------------------------------------------
// errors
function showError(err, context = '') {
  console.error(context, err);
  if (err instanceof ApiError && err.isConflict) return showConflict(err);
  const msg = err instanceof Error ? err.message : String(err);
  showBanner('error', `${context ? `<b>${escapeHtml(context)}:</b> ` : ''}${escapeHtml(msg)}`);
}
/** 409: say who changed what and when, then reload what is shown so it is current again. */
function showConflict(err) {
  const c = (err.body && err.body.conflict) || {};
  const what = c.entity ? `This ${c.entity}${c.id != null ? ` (#${c.id})` : ''}` : 'This item';
  const who = c.author ? ` by ${c.author}` : ' by someone else';
  const when = c.updated_at ? ` at ${new Date(c.updated_at).toLocaleString()}` : '';
  const msg = `${what} was changed${who}${when} — your change was not saved. The list has been reloaded; apply your change again if still needed.`;
  showBanner('conflict', `${escapeHtml(msg)}<br><small>${escapeHtml(err.message)}</small>`);
  reloadCurrent().catch((e) => showError(e, 'reload after conflict'));
}

// ------------------------------------------------------------------------------------------
// viewer
const viewer = new Viewer($('#canvas'), {
  mode: () => (S.imageReady ? S.tool : 'prompt'),
  // With no prompt in progress, a click on a "segment everything" proposal takes it.
  onPoint: (x, y, positive) => {
    if (!(promptIdle() && proposals.click(x, y, positive))) addPoint(x, y, positive);
  },
  onBox: (box) => setBox(box),
  onBrushStart: (x, y) => brushStart(x, y),
  onBrushMove: (x, y) => brushMove(x, y),
  onBrushEnd: () => brushEnd(),
  brushRadius: () => S.brush,
  onView: (scale) => (tid('zoom-level').textContent = `${Math.round(scale * 100)}%`),
  onHover: (p) => proposals.onHover(S.tool === 'prompt' && promptIdle() ? p : null),
});

function promptIdle() {
  return S.imageReady && !S.prompt.points.length && !S.prompt.box && !S.prompt.mask;
}
viewer.setOpacity(S.opacity);

const proposals = new Proposals({
  api,
  viewer,
  undo,
  image: () => (S.imageReady ? S.image : null),
  instances: () => S.instances,
  showError,
  create: async (p, job) => {
    const image = S.image;
    const inst = await api.createInstance(image.id, {
      category_id: S.categoryId,
      rle: p.rle,
      score: p.predicted_iou,
      prompts: { auto: { job: job.id, index: p.index, point: p.point, stability_score: p.stability_score, params: job.params } },
      client_id: newClientId(),
    });
    if (S.image?.id === image.id) upsertInstance(inst);
    bumpImageStatus();
    return inst;
  },
  remove: async (inst) => {
    const cur = S.instances.find((i) => i.id === inst.id);
    const gone = await api.deleteInstance(inst.id, cur ? cur.version : inst.version);
    removeInstance(gone.id, gone);
  },
  restore: async (inst) => {
    const back = await api.restoreInstance(inst.id, S.deletedVersions.get(inst.id));
    upsertInstance(back);
    return back;
  },
});

// ------------------------------------------------------------------------------------------
// loading
async function boot() {
  const name = $('#user-name');
  name.value = api.user;
  name.addEventListener('change', () => {
    api.setUser(name.value);
    showInfo(`Annotating as "${api.user || 'anonymous'}"`, 2500);
  });
  bindUi();
  try {
    await loadProject();
    S.images = await api.images();
  } catch (e) {
    showError(e, 'could not load the project');
    overlay('Could not load the project — is the server running? Reload the page to retry.', false);
    return;
  }
  renderImageList();
  pollEmbeddings();
  pollHistory();
  if (!S.images.length) {
    overlay('No images in this project folder. Add images and press reload.', false);
    return;
  }
  const wanted = Number(params.get('image') || location.hash.replace(/^#image=/, ''));
  const idx = Math.max(0, S.images.findIndex((im) => im.id === wanted));
  await openImage(idx);
}

async function loadProject() {
  S.project = await api.project();
  tid('project-name').textContent = S.project.name || '';
  document.title = `${S.project.name || 'project'} — samkit`;
  renderGuidelines(S.project);
  setCategories(S.project.categories || (await api.categories()));
  const formats = S.project.export_formats || DEFAULT_EXPORT_FORMATS;
  tid('export-format').innerHTML = formats.map((f) => `<option value="${escapeHtml(f)}">${escapeHtml(f)}</option>`).join('');
  if (S.project.import_formats) {
    tid('import-format').innerHTML = S.project.import_formats
      .map((f) => `<option value="${escapeHtml(f)}">${escapeHtml(f)}</option>`).join('');
  }
  const skipped = S.project.skipped || [];
  const box = tid('skipped-files');
  box.hidden = skipped.length === 0;
  box.querySelector('.n').textContent = skipped.length;
  box.querySelector('ul').innerHTML = skipped
    .map((s) => `<li><code>${escapeHtml(s.path)}</code> — ${escapeHtml(s.reason)}</li>`).join('');
}

function setCategories(cats) {
  S.categories = cats;
  if (S.categoryId == null) S.categoryId = Number(localStorage.getItem('samkit.category')) || null;
  if (!cats.some((c) => c.id === S.categoryId)) S.categoryId = cats[0]?.id ?? null;
  const sel = tid('category-select');
  sel.innerHTML = cats
    .map((c, i) => `<option value="${c.id}">${i < 9 ? `${i + 1}. ` : ''}${escapeHtml(c.name)}</option>`).join('');
  if (S.categoryId != null) sel.value = String(S.categoryId);
}

const category = (id) => S.categories.find((c) => c.id === id);

async function openImage(idx) {
  if (idx < 0 || idx >= S.images.length) return;
  const seq = ++S.openSeq;
  S.index = idx;
  S.image = S.images[idx];
  S.imageReady = false;
  S.prompt = EMPTY_PROMPT;
  S.predictSeq++;
  S.instances = [];
  S.hidden.clear();
  undo.clear();
  proposals.open(null);
  history.replaceState(null, '', `#image=${S.image.id}`);
  tid('image-name').textContent = S.image.name;
  tid('image-status').value = S.image.status;
  renderImageList();
  renderInstances();
  updatePromptUi();
  viewer.setImage(null, 0, 0);

  if (S.image.missing) {
    overlay(`Image file missing on disk: ${S.image.name}. Its ${S.image.instance_count} annotation(s) are kept and exported, but it cannot be shown or annotated.`, false);
    updateEncodingState();
    await loadInstances().catch((e) => showError(e, 'instances'));
    return;
  }
  overlay(`loading ${S.image.name}…`);
  // Ask for the embedding first so encoding overlaps the image download.
  api.embed(S.image.id, 'now').then((r) => {
    if (seq === S.openSeq) updateEncodingState(r.state);
  }).catch((e) => handlePredictError(e, seq));
  const imgPromise = loadImageElement(S.image);
  const instPromise = loadInstances();
  instPromise.catch(() => {}); // reported below, once the image is shown
  let img;
  try {
    img = await imgPromise;
  } catch (e) {
    if (seq !== S.openSeq) return;
    overlay(e.message, false);
    showError(e, `image ${S.image.name}`);
    return;
  }
  if (seq !== S.openSeq) return;
  viewer.setImage(img, S.image.width || img.naturalWidth, S.image.height || img.naturalHeight);
  S.imageReady = true;
  overlay(null);
  try {
    await instPromise;
  } catch (e) {
    showError(e, 'could not load instances');
  }
  if (seq !== S.openSeq) return;
  renderInstances();
  updateEncodingState();
  proposals.open(S.image);
  // Warm the browser cache with the next image file too.
  const next = S.images[idx + 1];
  if (next && !next.missing) new Image().src = api.imageUrl(next.id);
}

function loadImageElement(image) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = async () => {
      // <img> hides the HTTP error; ask again to get the server's message.
      let msg = `could not load ${image.name}`;
      try {
        const res = await fetch(api.imageUrl(image.id));
        if (!res.ok) {
          const body = await res.json().catch(() => ({}));
          msg = res.status === 410 ? `Image file missing on disk: ${image.name}` : body.error || `HTTP ${res.status}`;
        } else {
          msg = `${image.name}: the browser cannot decode this image format`;
        }
      } catch (e) {
        msg = `network error loading ${image.name}: ${e.message}`;
      }
      reject(new Error(msg));
    };
    img.src = api.imageUrl(image.id);
  });
}

async function loadInstances() {
  if (!S.image) return;
  const id = S.image.id;
  const list = await api.instances(id);
  if (!S.image || S.image.id !== id) return;
  S.instances = list.filter((i) => !i.deleted);
  renderInstances();
}

/** Reload everything that may be stale after a conflict or an import. */
async function reloadCurrent() {
  const [images, cats] = await Promise.all([api.images(), api.categories()]);
  S.images = images;
  setCategories(cats);
  if (S.image) {
    S.image = S.images.find((im) => im.id === S.image.id) || S.image;
    tid('image-status').value = S.image.status;
    await loadInstances();
  }
  renderImageList();
}

// ------------------------------------------------------------------------------------------
// image list and embeddings progress
function renderImageList() {
  const ul = tid('image-list');
  const states = S.embeddings?.states || {};
  ul.innerHTML = S.images
    .map((im, i) => {
      const emb = states[im.id] || im.embedding || 'none';
      const status = im.missing ? 'missing' : im.status;
      return `<li data-testid="image-item" data-id="${im.id}" data-index="${i}" data-status="${status}"
        class="${i === S.index ? 'current' : ''} ${im.missing ? 'missing' : ''}" title="${escapeHtml(im.name)}">
        <span class="dot emb-${escapeHtml(emb)}" title="embedding: ${escapeHtml(emb)}"></span>
        <span class="name">${escapeHtml(im.name)}</span>
        <span class="count" title="instances">${im.instance_count ?? ''}</span>
        <span class="badge st-${escapeHtml(status)}">${escapeHtml(im.missing ? 'missing' : STATUS_LABEL[im.status] || im.status)}</span>
      </li>`;
    })
    .join('');
  const c = S.project?.counts;
  tid('image-counts').textContent = S.images.length ? `(${S.images.filter((i) => i.status === 'done').length}/${S.images.length} done)` : '';
  if (c && c.missing) tid('image-counts').textContent += ` · ${c.missing} missing`;
  // Bring the current image into view when it changes only, not on every refresh (the
  // list is re-rendered by the progress poll while the user may be scrolling it).
  if (S.scrolledTo !== S.index) {
    S.scrolledTo = S.index;
    ul.querySelector('li.current')?.scrollIntoView({ block: 'nearest' });
  }
}

async function pollEmbeddings() {
  let delay = 3000;
  try {
    const e = await api.embeddings();
    const modelChanged = S.embeddings?.model?.state !== e.model?.state;
    S.embeddings = e;
    renderProgress(e);
    if (modelChanged) updatePromptUi();
    updateEncodingState();
    const key = JSON.stringify(e.states || {});
    if (key !== S.statesKey) {
      S.statesKey = key;
      renderImageList();
    }
    delay = e.encoding || (e.queued && e.queued.length) || e.model?.state === 'loading' ? 700 : 3000;
  } catch (err) {
    tid('encode-progress-text').textContent = `progress unavailable: ${err.message}`;
    delay = 5000;
  }
  setTimeout(pollEmbeddings, delay);
}

// Other annotators' changes: poll the history log and refresh what they touched.
// `?poll=0` in the page URL turns it off, `?poll=ms` sets the interval.
async function pollHistory() {
  const interval = Number(params.get('poll') ?? 4000);
  if (!interval) return;
  try {
    if (S.lastHistoryId == null && S.project?.last_history_id != null) {
      S.lastHistoryId = S.project.last_history_id;
    } else if (S.lastHistoryId == null) {
      const r = await api.history('?limit=1');
      S.lastHistoryId = r.last_id ?? r.entries[0]?.id ?? 0;
    } else {
      const r = await api.history(`?since=${S.lastHistoryId}&limit=1000`);
      if (r.entries.length) {
        S.lastHistoryId = Math.max(S.lastHistoryId, r.last_id ?? 0, ...r.entries.map((e) => e.id));
        const me = api.user || 'anonymous';
        const others = r.entries.filter((e) => e.author !== me);
        if (others.length) await applyRemoteChanges(others);
      }
    }
  } catch (e) {
    console.warn('history poll failed', e); // the embeddings poll already reports an unreachable server
  }
  setTimeout(pollHistory, interval);
}

async function applyRemoteChanges(entries) {
  const touchesImage = S.image && entries.some((e) => e.image_id === S.image.id && e.entity === 'instance');
  if (touchesImage) {
    await loadInstances();
    const who = [...new Set(entries.filter((e) => e.image_id === S.image.id).map((e) => e.author))].join(', ');
    showInfo(`${who} changed annotations on this image; the list is up to date.`, 5000);
  }
  if (entries.some((e) => e.entity === 'image' || e.entity === 'instance')) {
    const images = await api.images();
    S.images = images;
    if (S.image) {
      const cur = images.find((im) => im.id === S.image.id);
      if (cur) {
        S.image = cur;
        tid('image-status').value = cur.status;
      }
    }
    renderImageList();
  }
  if (entries.some((e) => e.entity === 'category')) {
    setCategories(await api.categories());
    renderInstances();
  }
  if (entries.some((e) => e.entity === 'project')) await loadProject();
}

function renderProgress(e) {
  const total = e.total || 0;
  const ready = e.ready || 0;
  tid('encode-progress-fill').style.width = total ? `${(100 * ready) / total}%` : '0';
  let txt = `encoded ${ready}/${total}`;
  const model = e.model?.state;
  if (model === 'loading') txt = `loading model… (${txt})`;
  else if (model === 'failed') txt = `model failed: ${e.model.error || 'unknown error'}`;
  else if (model === 'disabled') txt = 'model disabled: no predictions';
  else if (e.encoding) {
    const im = S.images.find((i) => i.id === e.encoding.image_id);
    txt += ` · encoding ${im ? im.name : `#${e.encoding.image_id}`}`;
  }
  if (e.failed?.length) txt += ` · ${e.failed.length} failed`;
  tid('encode-progress-text').textContent = txt;
  tid('encode-progress').dataset.ready = ready;
  tid('encode-progress').dataset.total = total;
}

/** A prediction succeeded, so the embedding exists: show it without waiting for the poll. */
function markEmbedded(imageId) {
  if (S.embeddings?.states && S.embeddings.states[imageId] !== 'ready') {
    S.embeddings.states[imageId] = 'ready';
    renderImageList();
  }
  const im = S.images.find((i) => i.id === imageId);
  if (im) im.embedding = 'ready';
  updateEncodingState();
}

function updateEncodingState(explicit) {
  if (!S.image) return;
  const el = tid('encoding-state');
  if (S.image.missing) {
    el.textContent = 'image missing';
    el.dataset.state = 'missing';
    tid('stage-badge').hidden = true;
    return;
  }
  const e = S.embeddings;
  let state = explicit || e?.states?.[S.image.id] || S.image.embedding || 'none';
  if (e?.states?.[S.image.id]) state = e.states[S.image.id];
  const failed = e?.failed?.find((f) => f.image_id === S.image.id);
  const model = e?.model?.state;
  let text;
  if (model === 'loading') text = 'loading model…';
  else if (model === 'failed') text = `model failed: ${e.model.error || ''}`;
  else if (model === 'disabled') text = 'model disabled';
  else if (state === 'ready') text = 'image encoded ✓';
  else if (state === 'failed' || failed) text = `encoding failed: ${failed?.error || 'see server log'}`;
  else if (state === 'encoding') text = 'encoding image…';
  else text = 'encoding image… (queued)';
  el.textContent = text;
  el.dataset.state = model && model !== 'ready' ? `model-${model}` : state;
  // Same message as a badge on the canvas, so a wait is never silent.
  const badge = tid('stage-badge');
  badge.hidden = state === 'ready' && (!model || model === 'ready');
  badge.textContent = text;
}

// ------------------------------------------------------------------------------------------
// prompts and prediction
function setPrompt(p) {
  S.prompt = p;
  viewer.setPrompts(p.points, p.box);
  paintCurrentMask();
  updatePromptUi();
}

function pushPromptAction(label, before, after) {
  const action = {
    label,
    before,
    after,
    undo: async () => restorePrompt(action, 'before'),
    redo: async () => restorePrompt(action, 'after'),
  };
  undo.push(action);
  return action;
}

/** Show a remembered prompt state; one whose prediction never arrived is predicted again. */
function restorePrompt(action, key) {
  S.predictSeq++;
  const st = action[key];
  setPrompt(st);
  if (st.pending && (st.points.length || st.box)) {
    runPredict(st).then((done) => {
      if (done && action[key] === st) action[key] = done;
    });
  }
}

function addPoint(x, y, positive) {
  if (!S.imageReady || S.image.missing) return;
  const before = S.prompt;
  const next = { ...before, points: [...before.points, { x, y, label: positive ? 'positive' : 'negative' }], pending: true };
  applyPrompt('point', before, next);
}

function setBox(box) {
  if (!S.imageReady || S.image.missing) return;
  const before = S.prompt;
  applyPrompt('box', before, { ...before, box, pending: true });
}

function applyPrompt(label, before, next) {
  const t0 = performance.now();
  setPrompt(next);
  const action = pushPromptAction(label, before, next);
  runPredict(next, t0).then((done) => {
    if (done) action.after = done;
  });
}

/** Ask the server for masks for `p`; returns the resulting prompt state (or null if superseded). */
async function runPredict(p, t0 = performance.now()) {
  const seq = ++S.predictSeq;
  const imageId = S.image.id;
  const nPrompts = p.points.length + (p.box ? 1 : 0);
  const req = { points: p.points, multimask: nPrompts === 1 && !p.box, wait_ms: 15000 };
  if (p.box) req.box = p.box;
  // Refine the mask the user is looking at, unless they have hand-edited it.
  if (p.result && !p.edited) req.prev = { token: p.result.token, candidate: p.sel };
  S.predicting = seq; // "predicting" while this is the latest request (see isPredicting)
  updatePromptUi();
  let res;
  const started = Date.now();
  const superseded = () => {
    if (seq !== S.predictSeq) {
      overlay(null); // a newer prompt, an undo or another image took over
      updatePromptUi();
      return true;
    }
    return false;
  };
  for (;;) {
    try {
      res = await api.predict(imageId, req);
      break;
    } catch (e) {
      if (superseded()) return null;
      if (e instanceof ApiError && e.status === 400 && req.prev && /token/i.test(e.message)) {
        delete req.prev; // token expired on the server: predict from the prompts alone
        continue;
      }
      if (e instanceof ApiError && e.status === 503 && (e.code === 'encoding' || e.code === 'model_loading') && Date.now() - started < 180000) {
        tid('mask-status').textContent = e.code === 'encoding' ? 'encoding image… the mask appears when it is ready' : 'loading model…';
        overlay(e.code === 'encoding' ? 'encoding image…' : 'loading model…');
        updateEncodingState(e.body.embedding);
        await new Promise((r) => setTimeout(r, Math.max(300, (e.retryAfter || 1) * 500)));
        if (superseded()) return null;
        continue;
      }
      S.predicting = 0;
      overlay(null);
      handlePredictError(e);
      updatePromptUi();
      return null;
    }
  }
  overlay(null);
  if (superseded() || !S.image || S.image.id !== imageId) return null;
  markEmbedded(imageId);
  const t1 = performance.now();
  const candidates = res.candidates.map((c) => ({ mask: decodeRle(c.rle), iou: c.iou, token: c.token ?? null, area: c.area, bbox: c.bbox }));
  const done = {
    ...p,
    result: { token: res.token, candidates, decode_ms: res.decode_ms },
    sel: 0,
    mask: candidates[0]?.mask || null,
    iou: candidates[0]?.iou ?? null,
    edited: false,
    pending: false,
  };
  S.predicting = 0;
  setPrompt(done);
  // Time to paint: wait for the frame that draws the mask.
  requestAnimationFrame(() => {
    const t2 = performance.now();
    S.lastTiming = { total_ms: t2 - t0, request_ms: t1 - t0, client_ms: t2 - t1, server_decode_ms: res.decode_ms, wait_ms: res.wait_ms };
    updatePromptUi();
  });
  return done;
}

function handlePredictError(e, seq) {
  if (seq !== undefined && seq !== S.openSeq) return;
  if (e instanceof ApiError && e.status === 410) {
    overlay(`Image file missing on disk: ${S.image?.name}`, false);
  }
  showError(e, 'prediction');
  tid('mask-status').textContent = `prediction failed: ${e.message}`;
}

/** Which decoder output a candidate is: SAM's single-mask output or one of its three multimask outputs. */
function candidateKind(c) {
  if (c?.token == null) return '';
  return c.token === 0 ? ': single-mask output' : `: multimask output ${c.token}`;
}

function cycleCandidate(dir = 1) {
  const p = S.prompt;
  const n = p.result?.candidates.length || 0;
  if (n < 2) return;
  const sel = (p.sel + dir + n) % n;
  const c = p.result.candidates[sel];
  const before = p;
  const next = { ...p, sel, mask: c.mask, iou: c.iou, edited: false };
  setPrompt(next);
  pushPromptAction('candidate', before, next);
}

function clearPrompts() {
  if (S.prompt === EMPTY_PROMPT || (!S.prompt.points.length && !S.prompt.box && !S.prompt.mask)) return;
  S.predictSeq++;
  const before = S.prompt;
  setPrompt(EMPTY_PROMPT);
  pushPromptAction('clear', before, EMPTY_PROMPT);
}

let maskLayer = null;
function paintCurrentMask() {
  const p = S.prompt;
  if (!p.mask || !S.image) {
    viewer.setMaskLayer(null);
    return;
  }
  const { width: w, height: h } = S.image;
  if (!maskLayer || maskLayer.width !== w || maskLayer.height !== h) maskLayer = new OffscreenCanvas(w, h);
  const cat = category(S.categoryId);
  const rgb = hexToRgb(cat?.color || '#1e90ff');
  maskLayer.getContext('2d').putImageData(maskToImageData(p.mask, w, h, rgb, 120, true), 0, 0);
  viewer.setMaskLayer(maskLayer);
}

function updatePromptUi() {
  const p = S.prompt;
  const n = p.result?.candidates.length || 0;
  const cyc = tid('candidate-cycle');
  cyc.textContent = n ? `mask ${p.sel + 1}/${n}` : 'mask –';
  cyc.disabled = n < 2;
  cyc.title = n > 1
    ? `Next candidate mask (C / Tab); predicted IoU: ${p.result.candidates.map((c, i) => `${i === p.sel ? '▸' : ''}${c.iou != null ? c.iou.toFixed(2) : '–'}`).join(', ')}`
    : 'Next candidate mask (C / Tab)';
  const st = tid('mask-status');
  if (S.image?.missing) {
    st.textContent = 'cannot annotate: the image file is missing';
    st.dataset.area = 0;
  } else if (isPredicting()) {
    const emb = S.embeddings?.states?.[S.image?.id] || S.image?.embedding;
    st.textContent = emb === 'queued' || emb === 'encoding' ? 'encoding image… the mask appears when it is ready' : 'predicting…';
  } else if (p.mask) {
    const area = maskArea(p.mask);
    // SAM's own estimate, not a measured IoU: say so.
    const iou = p.edited ? 'edited by hand' : p.iou != null ? `predicted IoU ${p.iou.toFixed(2)}` : '';
    const which = n > 1 ? ` (candidate ${p.sel + 1}/${n}${candidateKind(p.result.candidates[p.sel])})` : '';
    st.textContent = `mask: ${fmtInt(area)} px${iou ? `, ${iou}` : ''}${which}`;
    st.dataset.area = area;
  } else {
    const model = S.embeddings?.model?.state;
    st.textContent = p.points.length || p.box ? 'no mask'
      : model === 'disabled' || model === 'failed' ? `no predictions (model ${model}); the brush still works`
      : 'no mask — click the object';
    st.dataset.area = 0;
  }
  const np = p.points.filter((q) => q.label === 'positive').length;
  const nn = p.points.length - np;
  tid('prompt-status').textContent =
    p.points.length || p.box ? `prompts: ${np} +, ${nn} −${p.box ? ', box' : ''}` : '';
  if (S.lastTiming && p.result && !isPredicting()) {
    tid('prompt-status').textContent += ` · ${Math.round(S.lastTiming.total_ms)} ms (decoder ${Math.round(S.lastTiming.server_decode_ms ?? 0)} ms)`;
  }
  tid('brush-size').textContent = `⌀ ${S.brush * 2}`;
  tid('zoom-level').textContent = viewer.scale ? `${Math.round(viewer.scale * 100)}%` : '';
  updateButtons();
}

function isPredicting() {
  return S.predicting !== 0 && S.predicting === S.predictSeq;
}

function updateButtons() {
  tid('accept').disabled = !S.prompt.mask || S.image?.missing;
  tid('undo').disabled = !undo.canUndo();
  tid('redo').disabled = !undo.canRedo();
  for (const b of document.querySelectorAll('[data-tool]')) b.classList.toggle('active', b.dataset.tool === S.tool);
}

// ------------------------------------------------------------------------------------------
// brush / eraser
let stroke = null;
function brushStart(x, y) {
  if (!S.imageReady || S.image.missing) return;
  const { width: w, height: h } = S.image;
  const before = S.prompt;
  const mask = before.mask ? before.mask.slice() : new Uint8Array(w * h);
  stroke = { before, mask, last: { x, y }, erase: S.tool === 'eraser' };
  S.prompt = { ...before, mask, edited: true, pending: false };
  brushDab(x, y);
  paintCurrentMask();
}
function brushMove(x, y) {
  if (!stroke) return;
  const { last } = stroke;
  const dist = Math.hypot(x - last.x, y - last.y);
  const step = Math.max(1, S.brush / 3);
  for (let t = step; t < dist; t += step) brushDab(last.x + ((x - last.x) * t) / dist, last.y + ((y - last.y) * t) / dist);
  brushDab(x, y);
  stroke.last = { x, y };
  paintCurrentMask();
}
function brushDab(x, y) {
  dab(stroke.mask, S.image.width, S.image.height, x, y, S.brush, stroke.erase ? 0 : 1);
}
function brushEnd() {
  if (!stroke) return;
  const next = { ...S.prompt, iou: null };
  pushPromptAction(stroke.erase ? 'eraser' : 'brush', stroke.before, next);
  stroke = null;
  setPrompt(next);
}
function setTool(tool) {
  S.tool = tool;
  viewer.updateCursor();
  viewer.draw();
  updateButtons();
}

// ------------------------------------------------------------------------------------------
// instances
let clientCounter = 0;
const newClientId = () =>
  (crypto.randomUUID ? crypto.randomUUID() : `c-${Date.now()}-${Math.random().toString(16).slice(2)}`) + `-${++clientCounter}`;

async function acceptMask() {
  const p = S.prompt;
  if (!p.mask || !S.image || S.image.missing) return;
  const { width: w, height: h } = S.image;
  if (maskArea(p.mask) === 0) {
    showError(new Error('the mask is empty; click the object or paint with the brush first'), 'accept');
    return;
  }
  const image = S.image;
  const body = {
    category_id: S.categoryId,
    rle: encodeRle(p.mask, w, h),
    score: p.edited ? null : p.iou,
    prompts: { points: p.points, box: p.box, edited: p.edited || undefined },
    client_id: newClientId(),
  };
  let inst;
  try {
    inst = await api.createInstance(image.id, body);
  } catch (e) {
    showError(e, 'could not save the instance');
    return;
  }
  if (!S.image || S.image.id !== image.id) return;
  upsertInstance(inst);
  S.predictSeq++;
  setPrompt(EMPTY_PROMPT);
  const action = {
    label: 'accept',
    id: inst.id,
    undo: async () => {
      const cur = S.instances.find((i) => i.id === action.id);
      const gone = await api.deleteInstance(action.id, cur ? cur.version : inst.version);
      removeInstance(gone.id, gone);
      S.predictSeq++;
      setPrompt(p);
    },
    redo: async () => {
      const del = S.deletedVersions.get(action.id);
      const back = await api.restoreInstance(action.id, del);
      upsertInstance(back);
      S.predictSeq++;
      setPrompt(EMPTY_PROMPT);
    },
  };
  undo.push(action);
  bumpImageStatus();
}

function upsertInstance(inst) {
  const i = S.instances.findIndex((x) => x.id === inst.id);
  if (inst.deleted) {
    if (i >= 0) S.instances.splice(i, 1);
  } else if (i >= 0) {
    S.instances[i] = inst;
  } else {
    S.instances.push(inst);
    S.instances.sort((a, b) => a.id - b.id);
  }
  syncImageCount();
  renderInstances();
}
function removeInstance(id, deletedRow) {
  if (deletedRow) S.deletedVersions.set(id, deletedRow.version);
  S.instances = S.instances.filter((x) => x.id !== id);
  syncImageCount();
  renderInstances();
}
function syncImageCount() {
  if (!S.image) return;
  S.image.instance_count = S.instances.length;
  renderImageList();
}

async function bumpImageStatus() {
  if (!S.image || S.image.status !== 'todo') return;
  try {
    const im = await api.setStatus(S.image.id, 'in_progress', S.image.version);
    replaceImage(im);
  } catch (e) {
    if (e instanceof ApiError && e.isConflict) {
      reloadCurrent().catch(() => {});
    } else {
      showError(e, 'image status');
    }
  }
}
function replaceImage(im) {
  const i = S.images.findIndex((x) => x.id === im.id);
  if (i >= 0) S.images[i] = im;
  if (S.image && S.image.id === im.id) {
    im.instance_count = S.instances.length;
    S.image = im;
    tid('image-status').value = im.status;
  }
  renderImageList();
}

async function deleteInstance(id) {
  const inst = S.instances.find((i) => i.id === id);
  if (!inst) return;
  try {
    const gone = await api.deleteInstance(id, inst.version);
    removeInstance(id, gone);
    undo.push({
      label: 'delete',
      undo: async () => upsertInstance(await api.restoreInstance(id, S.deletedVersions.get(id))),
      redo: async () => {
        const cur = S.instances.find((i) => i.id === id);
        const g = await api.deleteInstance(id, cur.version);
        removeInstance(id, g);
      },
    });
  } catch (e) {
    showError(e, 'delete');
  }
}

async function relabelInstance(id, categoryId) {
  const inst = S.instances.find((i) => i.id === id);
  if (!inst || inst.category_id === categoryId) return;
  const old = inst.category_id;
  const patch = async (cat) => {
    const cur = S.instances.find((i) => i.id === id);
    upsertInstance(await api.patchInstance(id, { version: cur.version, category_id: cat }));
  };
  try {
    await patch(categoryId);
    undo.push({ label: 'relabel', undo: () => patch(old), redo: () => patch(categoryId) });
  } catch (e) {
    showError(e, 'relabel');
    renderInstances();
  }
}

function instanceMask(inst) {
  const key = `${inst.id}:${inst.version}`;
  let m = S.maskCache.get(key);
  if (!m) {
    m = decodeRle(inst.rle);
    S.maskCache.set(key, m);
  }
  return m;
}

let instLayer = null;
function paintInstances() {
  if (!S.image || S.image.missing) return;
  const { width: w, height: h } = S.image;
  const visible = S.hideAll ? [] : S.instances.filter((i) => !S.hidden.has(i.id));
  if (!visible.length) {
    viewer.setInstancesLayer(null);
    return;
  }
  if (!instLayer || instLayer.width !== w || instLayer.height !== h) instLayer = new OffscreenCanvas(w, h);
  const img = compositeInstances(visible, w, h, instanceMask, (inst) => category(inst.category_id)?.color || '#888888');
  instLayer.getContext('2d').putImageData(img, 0, 0);
  viewer.setInstancesLayer(instLayer);
}

function renderInstances() {
  const ul = tid('instance-list');
  tid('instance-count').textContent = S.instances.length ? `(${S.instances.length})` : '';
  const options = (sel) =>
    S.categories.map((c) => `<option value="${c.id}" ${c.id === sel ? 'selected' : ''}>${escapeHtml(c.name)}</option>`).join('');
  ul.innerHTML = S.instances.length
    ? S.instances
        .map((inst) => {
          const cat = category(inst.category_id);
          const hidden = S.hidden.has(inst.id);
          return `<li data-testid="instance-item" data-id="${inst.id}" data-category="${escapeHtml(cat?.name || '')}" data-version="${inst.version}" class="${hidden ? 'hidden' : ''}">
            <span class="swatch" data-color="${escapeHtml(cat?.color || '#888')}"></span>
            <span class="iname">#${inst.id}</span>
            <select data-testid="instance-category" title="relabel">${options(inst.category_id)}</select>
            <span class="area muted" title="by ${escapeHtml(inst.updated_by || inst.author || '')}">${fmtInt(inst.area)} px</span>
            <button type="button" data-testid="instance-visibility" data-act="vis" title="show / hide">${hidden ? '◌' : '◉'}</button>
            <button type="button" data-testid="instance-delete" data-act="del" title="delete">✕</button>
          </li>`;
        })
        .join('')
    : '<li class="muted empty">No instances yet. Click an object, then press Enter.</li>';
  // Colours are set through the DOM, not a style attribute: the Content-Security-Policy
  // allows no inline styles.
  for (const sw of ul.querySelectorAll('.swatch[data-color]')) sw.style.background = sw.dataset.color;
  paintInstances();
}

// ------------------------------------------------------------------------------------------
// categories, export, import, status
async function addCategory() {
  const name = prompt('New category name');
  if (!name || !name.trim()) return;
  try {
    const cat = await api.createCategory(name.trim());
    setCategories([...S.categories, cat]);
    selectCategory(cat.id);
    renderInstances();
  } catch (e) {
    showError(e, 'new category');
  }
}

function selectCategory(id) {
  if (!category(id)) return;
  S.categoryId = id;
  localStorage.setItem('samkit.category', String(id));
  tid('category-select').value = String(id);
  paintCurrentMask();
}

async function doExport() {
  const format = tid('export-format').value;
  const btn = tid('export-button');
  btn.disabled = true;
  btn.textContent = 'Exporting…';
  try {
    const res = await api.request('GET', `/api/export?format=${encodeURIComponent(format)}`, undefined, { raw: true });
    const fallback = `${S.project?.name || 'samkit'}-${format}${format.startsWith('coco') ? '.json' : '.zip'}`;
    const { filename, size } = await saveResponse(res, fallback);
    showInfo(`Exported ${filename} (${fmtInt(size)} bytes)`);
  } catch (e) {
    showError(e, 'export');
  } finally {
    btn.disabled = false;
    btn.textContent = 'Export';
  }
}

async function doImport(file) {
  const format = tid('import-format').value;
  try {
    const r = await api.importFile(format, file);
    const skipped = r.skipped?.length ? `, ${r.skipped.length} skipped (${r.skipped.slice(0, 3).map((s) => `${s.item}: ${s.reason}`).join('; ')})` : '';
    const n = (k, word) => `${k} ${word}${k === 1 ? '' : 's'}`;
    showInfo(`Imported ${n(r.instances_added, 'instance')} into ${n(r.images_matched, 'image')}, ${n(r.categories_added, 'new category').replace(/ys$/, 'ies')}${skipped}`, 12000);
    await reloadCurrent();
  } catch (e) {
    showError(e, `import ${file.name}`);
  }
}

async function setImageStatus(status) {
  if (!S.image) return;
  try {
    replaceImage(await api.setStatus(S.image.id, status, S.image.version));
  } catch (e) {
    tid('image-status').value = S.image.status;
    showError(e, 'image status');
  }
}

// ------------------------------------------------------------------------------------------
// UI bindings and keyboard
function bindUi() {
  document.querySelectorAll('.banner [data-action="dismiss"]').forEach((b) =>
    b.addEventListener('click', () => (b.closest('.banner').hidden = true)));
  document.querySelector('.banner.conflict [data-action="reload"]').addEventListener('click', async () => {
    hideBanner('conflict');
    try {
      await reloadCurrent();
    } catch (e) {
      showError(e, 'reload');
    }
  });
  tid('image-list').addEventListener('click', (e) => {
    const li = e.target.closest('li[data-index]');
    if (li) openImage(Number(li.dataset.index));
  });
  tid('prev-image').addEventListener('click', () => openImage(S.index - 1));
  tid('next-image').addEventListener('click', () => openImage(S.index + 1));
  tid('image-status').addEventListener('change', (e) => setImageStatus(e.target.value));
  document.querySelectorAll('[data-tool]').forEach((b) => b.addEventListener('click', () => setTool(b.dataset.tool)));
  tid('category-select').addEventListener('change', (e) => selectCategory(Number(e.target.value)));
  tid('add-category').addEventListener('click', addCategory);
  tid('candidate-cycle').addEventListener('click', () => cycleCandidate(1));
  tid('accept').addEventListener('click', acceptMask);
  tid('clear').addEventListener('click', clearPrompts);
  tid('undo').addEventListener('click', () => runUndo(false));
  tid('redo').addEventListener('click', () => runUndo(true));
  tid('zoom-fit').addEventListener('click', () => viewer.fit());
  tid('opacity').addEventListener('input', (e) => {
    S.opacity = Number(e.target.value);
    viewer.setOpacity(S.opacity);
  });
  tid('export-button').addEventListener('click', doExport);
  tid('import-file').addEventListener('change', (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    if (f) doImport(f);
  });
  tid('help-button').addEventListener('click', toggleHelp);
  bindGuidelinesEditor({
    api,
    project: () => S.project,
    saved: (project) => (S.project = { ...S.project, ...project }),
    reload: loadProject,
    showError,
  });
  proposals.bind();
  const list = tid('instance-list');
  list.addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-act]');
    if (!btn) return;
    const id = Number(btn.closest('li').dataset.id);
    if (btn.dataset.act === 'del') deleteInstance(id);
    if (btn.dataset.act === 'vis') {
      if (S.hidden.has(id)) S.hidden.delete(id);
      else S.hidden.add(id);
      renderInstances();
    }
  });
  list.addEventListener('change', (e) => {
    if (e.target.matches('select')) relabelInstance(Number(e.target.closest('li').dataset.id), Number(e.target.value));
  });
  window.addEventListener('keydown', onKey);
  // Keep keyboard shortcuts working after mouse use: a clicked button or a changed select
  // must not keep the focus (Enter would re-click the button, keys would go to the select).
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (b && e.detail > 0) b.blur();
  });
  document.addEventListener('change', (e) => {
    if (e.target.tagName === 'SELECT') e.target.blur();
  });
  window.addEventListener('unhandledrejection', (e) => showError(e.reason, 'unexpected error'));
}

function toggleHelp() {
  const d = $('#help');
  if (d.open) d.close();
  else d.showModal();
}

async function runUndo(redo) {
  try {
    await (redo ? undo.redo() : undo.undo());
  } catch (e) {
    showError(e, redo ? 'redo' : 'undo');
  }
}

const onKey = shortcutHandler({
  helpOpen: () => $('#help').open,
  undo: (redo) => runUndo(redo),
  accept: () => acceptMask(),
  clear: () => clearPrompts(),
  cycle: (dir) => cycleCandidate(dir),
  candidateCount: () => S.prompt.result?.candidates.length || 0,
  tool: (t) => setTool(t),
  brushSize: (f) => {
    S.brush = Math.min(256, Math.max(1, f > 1 ? Math.round(S.brush * f) + 1 : Math.round(S.brush * f)));
    updatePromptUi();
    viewer.draw();
  },
  image: (d) => openImage(S.index + d),
  zoom: (f) => viewer.zoomBy(f),
  fit: () => viewer.fit(),
  toggleInstances: () => {
    S.hideAll = !S.hideAll;
    paintInstances();
  },
  help: () => toggleHelp(),
  category: (i) => S.categories[i] && selectCategory(S.categories[i].id),
});

// Debug/test hooks: read-only views of the state plus coordinate mapping for clicks.
window.samkit = {
  get state() { return S; },
  viewer,
  toClient: (x, y) => viewer.toClient(x, y),
  get timing() { return S.lastTiming; },
  get maskArea() { return S.prompt.mask ? maskArea(S.prompt.mask) : 0; },
  get maskBbox() { return S.prompt.mask && S.image ? maskBbox(S.prompt.mask, S.image.width, S.image.height) : null; },
  get ready() { return S.imageReady; },
  proposals,
};

boot();
