// Volumes (DICOM, NIfTI, TIFF stacks): the volume bar under the toolbar, shown for a
// windowable image or a slice of a volume (`FILE#z=N` in the list). It holds
//  - the slice slider and ↑/↓ (the slices of the file, in order, from the image list);
//  - the window/level: presets, the Window tool (drag on the image: → wider, ↓ higher
//    level; a preview follows the drag, the release sets the window for every slice of
//    the file and the server re-encodes them), and "file's own";
//  - Propagate: the selected (or last) instance of this slice prompts the next slices,
//    one after another, each result opened for review, until the server's rule stops.

import { tid, showInfo } from './dom.js';
import { api, S } from './state.js';
import { showError } from './errors.js';
import { viewer } from './canvas.js';
import { openImage, updateEncodingState } from './images.js';
import { setTool } from './brush.js';
import { refreshThumbs } from './image-list.js';

const SLICE = /^(.*)#z=(\d+)$/;

/** Window presets: CT values in Hounsfield units. */
export const WINDOW_PRESETS = [
  { id: 'soft', label: 'CT soft tissue', center: 40, width: 400 },
  { id: 'lung', label: 'CT lung', center: -600, width: 1500 },
  { id: 'bone', label: 'CT bone', center: 400, width: 1800 },
  { id: 'brain', label: 'CT brain', center: 40, width: 80 },
];

const V = {
  info: null, // GET /window of the image shown (windowable only)
  drag: null, // {center, width, scale} while the Window tool drags
  preview: 0, // sequence of preview requests
  propagating: null, // {stop: bool}
};

/** The slices of the volume `image` belongs to: [{z, index}] in slice order. */
export function slicesOf(image) {
  const m = image && SLICE.exec(image.name);
  if (!m) return [];
  const out = [];
  S.images.forEach((im, index) => {
    const s = SLICE.exec(im.name);
    if (s && s[1] === m[1]) out.push({ z: Number(s[2]), index, image: im });
  });
  return out.sort((a, b) => a.z - b.z);
}

/** Called when an image opens: shows or hides the bar, fetches its window. */
export async function volumeOnImageOpen() {
  const image = S.image;
  V.info = null;
  V.drag = null;
  const bar = tid('volume-bar');
  const slices = slicesOf(image);
  const slider = tid('slice-slider');
  if (slices.length) {
    const at = slices.findIndex((s) => s.image.id === image.id);
    slider.max = String(slices.length - 1);
    slider.value = String(at);
    tid('slice-label').textContent = `slice ${at + 1} / ${slices.length}`;
  }
  tid('slice-controls').hidden = !slices.length;
  tid('propagate-controls').hidden = !slices.length;
  bar.hidden = !slices.length;
  renderWindow();
  if (!image || image.missing) return;
  try {
    const w = await api.get(`/api/images/${image.id}/window`);
    if (S.image?.id !== image.id) return;
    if (w.windowable) V.info = w;
  } catch (e) {
    showError(e, `window of ${image.name}`);
  }
  bar.hidden = !slices.length && !V.info;
  if (!V.info && S.tool === 'window') setTool('prompt');
  renderWindow();
}

function renderWindow() {
  const w = V.drag || V.info;
  tid('window-controls').hidden = !V.info;
  if (!w) return;
  tid('window-value').textContent = `C ${fmt(w.center)} W ${fmt(w.width)}`;
  const preset = WINDOW_PRESETS.find((p) => p.center === w.center && p.width === w.width);
  tid('window-preset').value = V.drag ? 'custom' : !V.info.chosen ? 'file' : preset ? preset.id : 'custom';
}

const fmt = (v) => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 10) / 10);

/** ↑/↓ and the slider: the slice `d` away in the same volume. */
export function stepSlice(d) {
  const slices = slicesOf(S.image);
  const at = slices.findIndex((s) => s.image.id === S.image.id);
  const next = slices[at + d];
  if (next) openImage(next.index);
  return !!slices.length;
}

// ---------------------------------------------------------------------------- window
/** The Window tool: the drag starts from the window shown. */
export function levelStart() {
  if (!V.info) return;
  const [lo, hi] = V.info.range;
  // A drag across the canvas spans the volume's value range.
  const span = Math.max(hi - lo, 1);
  V.drag = { center: V.info.center, width: V.info.width, scale: span / Math.max(viewer.canvas.clientWidth, 1) };
  V.dragFrom = { center: V.info.center, width: V.info.width };
}

export function levelMove(dx, dy) {
  if (!V.drag) return;
  V.drag.width = Math.max(1, V.dragFrom.width + dx * V.drag.scale);
  V.drag.center = V.dragFrom.center + dy * V.drag.scale;
  renderWindow();
  preview(V.drag.center, V.drag.width);
}

export async function levelEnd() {
  if (!V.drag) return;
  const { center, width } = V.drag;
  V.drag = null;
  await setWindow({ center: Math.round(center * 10) / 10, width: Math.max(1, Math.round(width * 10) / 10) });
}

let previewBusy = false;
let previewNext = null;
/** Shows the slice through (center, width) without storing it; one request at a time. */
function preview(center, width) {
  previewNext = { center, width };
  if (previewBusy) return;
  previewBusy = true;
  const image = S.image;
  const seq = ++V.preview;
  const { center: c, width: w } = previewNext;
  previewNext = null;
  const img = new Image();
  const done = () => {
    previewBusy = false;
    if (previewNext && V.drag) preview(previewNext.center, previewNext.width);
  };
  img.onload = () => {
    if (S.image?.id === image.id && seq === V.preview) viewer.replaceImage(img);
    done();
  };
  img.onerror = done;
  img.src = `${api.imageUrl(image.id)}?window=${encodeURIComponent(`${c},${w}`)}`;
}

/** Sets (or with null resets) the window of the shown image's volume, then shows and
 * re-encodes the slice through it. */
async function setWindow(w) {
  const image = S.image;
  if (!image || !V.info) return;
  try {
    const info = await api.put(`/api/images/${image.id}/window`, w || { reset: true });
    if (S.image?.id !== image.id) return;
    V.info = info;
    renderWindow();
    const img = new Image();
    img.onload = () => S.image?.id === image.id && viewer.replaceImage(img);
    img.src = api.imageUrl(image.id);
    for (const im of S.images) if (info.images.includes(im.id)) im.embedding = 'none';
    refreshThumbs(info.images);
    updateEncodingState('encoding');
    showInfo(`Window C ${fmt(info.center)} W ${fmt(info.width)} for every slice of ${info.file}; re-encoding`, 2500);
  } catch (e) {
    showError(e, 'window');
    renderWindow();
  }
}

// ---------------------------------------------------------------------------- propagate
/** The instance to propagate: the one being edited, else the last one of this slice. */
function propagationSource() {
  const ed = S.prompt.editing?.id;
  if (ed) return S.instances.find((i) => i.id === ed);
  return S.instances.length ? S.instances.reduce((a, b) => (b.id > a.id ? b : a)) : null;
}

async function propagate() {
  if (V.propagating) {
    V.propagating.stop = true;
    return;
  }
  const from = propagationSource();
  if (!from) {
    showInfo('Accept a mask on this slice first: Propagate carries it to the next slices.', 4000);
    return;
  }
  const direction = tid('propagate-direction').value;
  const steps = direction === 'both' ? [+1, -1] : [direction === 'up' ? -1 : +1];
  const status = tid('propagate-status');
  const button = tid('propagate');
  const start = S.image;
  const run = (V.propagating = { stop: false });
  button.textContent = '■ Stop';
  const made = [];
  const reasons = [];
  try {
    for (const step of steps) {
      let source = from.id;
      const slices = slicesOf(start);
      let at = slices.findIndex((s) => s.image.id === start.id) + step;
      while (!run.stop && at >= 0 && at < slices.length) {
        const target = slices[at];
        status.textContent = `propagating to slice ${at + 1} / ${slices.length}…`;
        const r = await api.post(`/api/images/${target.image.id}/propagate`, { from_instance: source, wait_ms: 60000 });
        if (!r.instance) {
          reasons.push(`slice ${at + 1}: ${r.stopped.message.replace(/^[^:]*: /, '')}`);
          break;
        }
        made.push(at + 1);
        source = r.instance.id;
        target.image.instance_count = (target.image.instance_count || 0) + 1;
        // Each result is shown for review as it comes.
        await openImage(target.index);
        status.textContent = `slice ${at + 1}: IoU ${r.iou.toFixed(2)}`;
        at += step;
      }
    }
  } catch (e) {
    showError(e, 'propagate');
  } finally {
    V.propagating = null;
    button.textContent = 'Propagate';
  }
  const what = made.length ? `${made.length} slice(s) (${Math.min(...made)}–${Math.max(...made)})` : 'no slice';
  status.textContent = `propagated to ${what}${run.stop ? '; stopped' : ''}${reasons.length ? `; ${reasons.join('; ')}` : ''}`;
  status.title = status.textContent;
}

export function bindVolume() {
  tid('slice-slider').addEventListener('input', (e) => {
    const slices = slicesOf(S.image);
    const s = slices[Number(e.target.value)];
    if (s && s.image.id !== S.image.id) openImage(s.index);
  });
  const presets = tid('window-preset');
  presets.innerHTML = [
    '<option value="file">file\'s own</option>',
    ...WINDOW_PRESETS.map((p) => `<option value="${p.id}">${p.label} (${p.center}/${p.width})</option>`),
    '<option value="custom" disabled>custom (drag)</option>',
  ].join('');
  presets.addEventListener('change', (e) => {
    const p = WINDOW_PRESETS.find((x) => x.id === e.target.value);
    setWindow(p ? { center: p.center, width: p.width } : null);
    e.target.blur();
  });
  tid('propagate').addEventListener('click', propagate);
}
