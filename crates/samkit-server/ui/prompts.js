// Prompts and prediction: points and boxes (each an undoable step), the request to the
// decoder (superseded answers dropped, waits for encoding shown), SAM's candidate masks
// (C / Tab), the pending mask layer, and the status bar and buttons that describe them.

import { ApiError } from './api.js';
import { decodeRle, encodeRle, maskArea, maskBbox, maskToImageData, hexToRgb } from './rle.js';
import { tid, fmtInt, overlay, showInfo } from './dom.js';
import { api, S, EMPTY_PROMPT, undo, category } from './state.js';
import { showError } from './errors.js';
import { viewer } from './canvas.js';
import { markEmbedded, updateEncodingState } from './images.js';
import { renderInstances } from './instances.js';
import { maskOptions, minRegionArea } from './mask-options.js';
import { paintOverlap } from './overlap.js';
import { updateEditUi } from './edit.js';
import { refreshOutline } from './polygon.js';

/** Below this predicted IoU the status bar flags the mask (SAM is unsure of it). */
export const LOW_IOU = 0.5;

undo.onChange = () => updateButtons();

// prompts and prediction
export function setPrompt(p) {
  const wasEditing = S.prompt.editing?.id;
  S.prompt = p;
  viewer.setPrompts(p.points, p.box);
  // Into or out of an edit: the edited instance leaves (or rejoins) the instances layer.
  if (wasEditing !== p.editing?.id) renderInstances();
  paintCurrentMask();
  updatePromptUi();
}

export function pushPromptAction(label, before, after) {
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

export function addPoint(x, y, positive) {
  if (!S.imageReady || S.image.missing) return;
  const before = S.prompt;
  const next = { ...before, points: [...before.points, { x, y, label: positive ? 'positive' : 'negative' }], pending: true };
  applyPrompt('point', before, next);
}

export function setBox(box) {
  if (!S.imageReady || S.image.missing) return;
  const before = S.prompt;
  applyPrompt('box', before, { ...before, box, pending: true });
}

function applyPrompt(label, before, next) {
  const t0 = performance.now();
  setPrompt(next);
  const action = pushPromptAction(label, before, next);
  const onError = (e) => rollBack(e, action, label, before, next);
  runPredict(next, t0, onError).then((done) => {
    if (done) action.after = done;
  });
}

/**
 * A new prompt's prediction failed: take the prompt back (off the canvas and the undo
 * stack) so the old mask is not shown under a point it does not answer, and offer Retry.
 */
function rollBack(e, action, label, before, next) {
  const imageId = S.image?.id;
  undo.drop(action);
  if (S.prompt === next) setPrompt(before);
  handlePredictError(e, undefined, [{
    label: 'Retry',
    testid: 'toast-retry',
    run: () => {
      if (S.image?.id === imageId && S.prompt === before) applyPrompt(label, before, next);
      else showInfo('Not retried: the prompts or the image changed since that prediction failed.', 5000);
    },
  }]);
  tid('mask-status').textContent += ' — the prompt was taken back';
}

/**
 * Ask the server for masks for `p`; returns the resulting prompt state (or null if superseded
 * or failed). A failure goes to `onError(err)` when given, else it is reported here.
 */
async function runPredict(p, t0 = performance.now(), onError = null) {
  const seq = ++S.predictSeq;
  const imageId = S.image.id;
  const nPrompts = p.points.length + (p.box ? 1 : 0);
  const req = { points: p.points, multimask: nPrompts === 1 && !p.box, wait_ms: 15000, min_region_area: minRegionArea(), zoom: maskOptions.zoom };
  if (p.box) req.box = p.box;
  // Refine the mask the user is looking at, unless they have hand-edited it; an instance
  // being edited starts from its own mask (and from the hand-edited one after a stroke).
  if (p.result && !p.edited) req.prev = { token: p.result.token, candidate: p.sel };
  else if (p.editing && p.mask) {
    req.mask_input = encodeRle(p.mask, S.image.width, S.image.height);
    req.multimask = false; // SAM's advice for refinement: one mask, not three guesses
  }
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
        if (p.editing && p.mask) req.mask_input = encodeRle(p.mask, S.image.width, S.image.height);
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
      updatePromptUi();
      if (onError) onError(e);
      else handlePredictError(e);
      return null;
    }
  }
  overlay(null);
  if (superseded() || !S.image || S.image.id !== imageId) return null;
  markEmbedded(imageId);
  const t1 = performance.now();
  const candidates = res.candidates.map((c) => ({ mask: decodeRle(c.rle), iou: c.iou, token: c.token ?? null, area: c.area, bbox: c.bbox, cleaned: c.cleaned_px ?? 0 }));
  const done = {
    ...p,
    result: { token: res.token, candidates, decode_ms: res.decode_ms, zoom: res.zoom || null },
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
    done.timing = S.lastTiming; // the label belongs to this mask: undo shows its own again
    updatePromptUi();
  });
  return done;
}

/** Give back an image's kept work (drafts.js); a prediction that was cut short is made again. */
export function restoreDraft(draft) {
  undo.restore(draft.undo);
  S.lastTiming = draft.timing;
  S.predictSeq++;
  const st = draft.prompt;
  setPrompt(st);
  if (st.pending && (st.points.length || st.box)) {
    runPredict(st).then((done) => {
      if (!done) return;
      for (const a of undo.done) {
        if (a.after === st) a.after = done;
        if (a.before === st) a.before = done;
      }
    });
  }
}

export function handlePredictError(e, seq, actions = []) {
  if (seq !== undefined && seq !== S.openSeq) return;
  if (e instanceof ApiError && e.status === 410) {
    overlay(`Image file missing on disk: ${S.image?.name}`, false);
    actions = [];
  }
  showError(e, 'prediction', actions);
  tid('mask-status').textContent = `prediction failed: ${e.message}`;
}

/** Which decoder output a candidate is: SAM's single-mask output or one of its three multimask outputs. */
function candidateKind(c) {
  if (c?.token == null) return '';
  return c.token === 0 ? ': single-mask output' : `: multimask output ${c.token}`;
}

export function cycleCandidate(dir = 1) {
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

/** Esc: drop the prompts and the pending mask; while editing, leave the instance as it was. */
export function clearPrompts() {
  if (S.prompt === EMPTY_PROMPT || (!S.prompt.points.length && !S.prompt.box && !S.prompt.mask && !S.prompt.editing)) return;
  S.predictSeq++;
  const before = S.prompt;
  setPrompt(EMPTY_PROMPT);
  pushPromptAction(before.editing ? 'cancel edit' : 'clear', before, EMPTY_PROMPT);
  if (before.editing) showInfo(`Edit cancelled: #${before.editing.id} is unchanged (version ${before.editing.version}).`, 3000);
}

let maskLayer = null;
export function paintCurrentMask() {
  const p = S.prompt;
  if (!p.mask || !S.image) {
    viewer.setMaskLayer(null);
    return;
  }
  const { width: w, height: h } = S.image;
  if (!maskLayer || maskLayer.width !== w || maskLayer.height !== h) maskLayer = new OffscreenCanvas(w, h);
  const cat = category(S.categoryId);
  const rgb = hexToRgb(cat?.color || '#1e90ff');
  maskLayer.getContext('2d').putImageData(maskToImageData(p.mask, w, h, rgb, 255, false), 0, 0);
  viewer.setMaskLayer(maskLayer, maskBbox(p.mask, w, h));
}

export function updatePromptUi() {
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
    // SAM's own estimate, not a measured IoU: say so; a low one is flagged.
    const low = !p.edited && p.iou != null && p.iou < LOW_IOU;
    const iou = p.edited ? 'edited by hand'
      : p.iou != null ? `predicted IoU ${p.iou.toFixed(2)}${p.result ? '' : ' (saved)'}` : '';
    const which = n > 1 ? ` (candidate ${p.sel + 1}/${n}${candidateKind(p.result.candidates[p.sel])})` : '';
    const cleaned = !p.edited && p.result?.candidates[p.sel]?.cleaned;
    const zoom = !p.edited && p.result?.zoom;
    const zoomed = zoom ? ` · zoomed in (${zoom.crop[2] - zoom.crop[0]}×${zoom.crop[3] - zoom.crop[1]} px)` : '';
    st.textContent = `mask: ${fmtInt(area)} px${iou ? `, ${iou}` : ''}${which}${low ? ' ⚠ low' : ''}${cleaned ? ` · cleaned ${fmtInt(cleaned)} px` : ''}${zoomed}`;
    st.title = low ? `SAM predicts this mask's IoU below ${LOW_IOU}: check it (another candidate, more clicks, or the brush)` : '';
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
  const timing = p.timing;
  if (timing && p.result && !p.edited && !isPredicting()) {
    tid('prompt-status').textContent += ` · ${Math.round(timing.total_ms)} ms (decoder ${Math.round(timing.server_decode_ms ?? 0)} ms)`;
  }
  // While a prediction is in flight: a spinner on the canvas and a busy cursor.
  const busy = isPredicting();
  tid('predict-spinner').hidden = !busy;
  viewer.setBusy(busy);
  st.classList.toggle('low-iou', /⚠ low/.test(st.textContent));
  paintOverlap();
  updateEditUi();
  refreshOutline();
  tid('brush-size').textContent = `⌀ ${S.brush * 2}`;
  tid('zoom-level').textContent = viewer.scale ? `${Math.round(viewer.scale * 100)}%` : '';
  updateButtons();
}

function isPredicting() {
  return S.predicting !== 0 && S.predicting === S.predictSeq;
}

export function updateButtons() {
  tid('accept').disabled = !S.prompt.mask || S.image?.missing;
  tid('accept').title = S.prompt.editing ? 'Save the edit as the next version of the instance (Enter)' : 'Accept mask (Enter; Shift+Enter: accept and next image)';
  tid('undo').disabled = !undo.canUndo();
  tid('redo').disabled = !undo.canRedo();
  for (const b of document.querySelectorAll('[data-tool]')) b.classList.toggle('active', b.dataset.tool === S.tool);
}
