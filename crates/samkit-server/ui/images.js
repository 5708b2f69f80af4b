// Opening an image (file, instances and embedding in parallel), background encoding
// progress, the image status, and other annotators' changes picked up from the history log.
// The list itself (rows, thumbnails, filter, keyboard) is image-list.js.

import { reviewOnImageOpen, viewedAssignment } from './review.js';
import { ApiError } from './api.js';
import { tid, showInfo, overlay } from './dom.js';
import { api, params, S, EMPTY_PROMPT, undo } from './state.js';
import { showError } from './errors.js';
import { viewer, proposals } from './canvas.js';
import { updatePromptUi, handlePredictError, restoreDraft } from './prompts.js';
import { renderInstances } from './instances.js';
import { setCategories, categoryOnImageOpen } from './categories.js';
import { renderImageList, STATUS_LABEL } from './image-list.js';
import { refreshHistory, noteHistory, resetHistoryScope } from './history.js';
import { loadProject } from './project.js';
import { Drafts } from './drafts.js';
import { volumeOnImageOpen } from './volume.js';

/** Unaccepted work of the images left, by image id. */
export const drafts = new Drafts();

export { renderImageList, stepImage, bindImageList } from './image-list.js';

export async function openImage(idx) {
  if (idx < 0 || idx >= S.images.length) return;
  // Keep the work of the image left (only once it was shown: until then its draft, if
  // any, has not been given back and is still stored).
  if (S.image && S.imageReady) drafts.save(S.image.id, { prompt: S.prompt, undo: undo.snapshot(), timing: S.lastTiming });
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
  categoryOnImageOpen();
  volumeOnImageOpen();
  reviewOnImageOpen();
  resetHistoryScope();
  refreshHistory();
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
  const draft = drafts.take(S.image.id);
  if (draft) restoreDraft(draft);
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

export async function loadInstances() {
  if (!S.image) return;
  const id = S.image.id;
  const list = await api.instances(id, viewedAssignment());
  if (!S.image || S.image.id !== id) return;
  S.instances = list.filter((i) => !i.deleted);
  renderInstances();
}

/** Reload everything that may be stale after a conflict or an import. */
export async function reloadCurrent() {
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
// embeddings progress
export async function pollEmbeddings() {
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
export async function pollHistory() {
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
        noteHistory(r.entries);
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
  if (S.image && entries.some((e) => e.image_id === S.image.id && (e.entity === 'assignment' || e.entity === 'comment'))) {
    reviewOnImageOpen();
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
export function markEmbedded(imageId) {
  if (S.embeddings?.states && S.embeddings.states[imageId] !== 'ready') {
    S.embeddings.states[imageId] = 'ready';
    renderImageList();
  }
  const im = S.images.find((i) => i.id === imageId);
  if (im) im.embedding = 'ready';
  updateEncodingState();
}

export function updateEncodingState(explicit) {
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
// image status
export function syncImageCount() {
  if (!S.image) return;
  S.image.instance_count = S.instances.length;
  renderImageList();
}

export async function bumpImageStatus() {
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

export function replaceImage(im) {
  const i = S.images.findIndex((x) => x.id === im.id);
  if (i >= 0) S.images[i] = im;
  if (S.image && S.image.id === im.id) {
    im.instance_count = S.instances.length;
    S.image = im;
    tid('image-status').value = im.status;
  }
  renderImageList();
}

/** Set the image's status (the select, or a status key: `announce` says it in a toast). */
export async function setImageStatus(status, { announce = false } = {}) {
  if (!S.image) return;
  if (document.body.dataset.role === 'annotator') {
    // In a team project the review workflow moves an annotator's images along.
    showInfo('The review sets the status here: press "Submit for review" when the image is done.', 4000);
    return;
  }
  if (S.image.status === status) {
    if (announce) showInfo(`${S.image.name} is already "${STATUS_LABEL[status]}"`, 1500);
    return;
  }
  try {
    replaceImage(await api.setStatus(S.image.id, status, S.image.version));
    refreshHistory();
    if (announce) showInfo(`${S.image.name}: status "${STATUS_LABEL[status]}"`, 1500);
  } catch (e) {
    tid('image-status').value = S.image.status;
    showError(e, 'image status');
  }
}
