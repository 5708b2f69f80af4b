// How masks are shown beyond their fills: the "outline only" mode (O, kept in localStorage)
// and the hovered instance — the one under the pointer on the canvas or whose row the
// pointer is on in the list — highlighted on the canvas, its row marked, and a label with
// its category and id next to the pointer.

import { tid } from './dom.js';
import { S, category } from './state.js';
import { viewer } from './canvas.js';
import { instanceMask } from './instances.js';

const OUTLINE_KEY = 'samkit.outlineOnly';

let hoveredId = null;
let highlight = null; // image-resolution canvas of the hovered instance's mask

export function initDisplay() {
  setOutlineOnly(localStorage.getItem(OUTLINE_KEY) === '1');
  const list = tid('instance-list');
  list.addEventListener('mouseover', (e) => {
    const li = e.target.closest('li[data-id]');
    if (li) setHovered(Number(li.dataset.id));
  });
  list.addEventListener('mouseleave', () => setHovered(null));
}

export function setOutlineOnly(on) {
  S.outlineOnly = !!on;
  localStorage.setItem(OUTLINE_KEY, on ? '1' : '0');
  viewer.setOutlineOnly(S.outlineOnly);
  const b = tid('outline-toggle');
  b.classList.toggle('active', S.outlineOnly);
  b.setAttribute('aria-pressed', String(S.outlineOnly));
}

export const toggleOutlineOnly = () => setOutlineOnly(!S.outlineOnly);

/** The visible instance drawn on top at image pixel (x, y), or null. */
export function instanceAt(x, y) {
  if (!S.image || S.hideAll) return null;
  const { width: w, height: h } = S.image;
  const xi = Math.floor(x);
  const yi = Math.floor(y);
  if (xi < 0 || yi < 0 || xi >= w || yi >= h) return null;
  // Instances are composited in list order: the last one containing the pixel is on top.
  for (let k = S.instances.length - 1; k >= 0; k--) {
    const inst = S.instances[k];
    if (S.hidden.has(inst.id)) continue;
    const bb = inst.bbox;
    if (Array.isArray(bb) && (xi < bb[0] - 1 || yi < bb[1] - 1 || xi > bb[0] + bb[2] + 1 || yi > bb[1] + bb[3] + 1)) continue;
    const m = instanceMask(inst);
    if (m.length === w * h && m[yi * w + xi]) return inst;
  }
  return null;
}

/** The pointer moved over the canvas (image coordinates), or left it (null). */
export function hoverCanvas(p) {
  const inst = p ? instanceAt(p.x, p.y) : null;
  setHovered(inst?.id ?? null);
  const label = tid('hover-label');
  if (!inst) {
    label.hidden = true;
    return;
  }
  label.textContent = `${category(inst.category_id)?.name || 'no category'} #${inst.id}${S.prompt.editing?.id === inst.id ? '' : ' · Ctrl+click to edit'}`;
  label.hidden = false;
  // Beside the pointer, flipped to stay inside the stage.
  const stage = tid('stage').getBoundingClientRect();
  const c = viewer.toClient(p.x, p.y);
  let left = c.x - stage.left + 14;
  let top = c.y - stage.top + 16;
  if (left + label.offsetWidth > stage.width - 4) left = c.x - stage.left - label.offsetWidth - 10;
  if (top + label.offsetHeight > stage.height - 4) top = c.y - stage.top - label.offsetHeight - 10;
  label.style.left = `${Math.max(4, left)}px`;
  label.style.top = `${Math.max(4, top)}px`;
}

export const hoveredInstance = () => hoveredId;

/** Highlight instance `id` (null: none) on the canvas and in the list. */
export function setHovered(id) {
  if (id === hoveredId) return;
  hoveredId = id;
  if (id == null) tid('hover-label').hidden = true;
  refreshHover();
}

/** Show the hovered instance again after the list or the masks changed. */
export function refreshHover() {
  const inst = hoveredId == null ? null : S.instances.find((i) => i.id === hoveredId);
  if (!inst || S.hideAll || S.hidden.has(inst.id) || !S.image || S.image.missing) {
    if (hoveredId != null && !inst) hoveredId = null;
    for (const li of tid('instance-list').querySelectorAll('li.hover')) li.classList.remove('hover');
    viewer.setHighlightLayer(null);
    if (!inst) tid('hover-label').hidden = true;
    return;
  }
  for (const li of tid('instance-list').querySelectorAll('li[data-id]')) {
    li.classList.toggle('hover', Number(li.dataset.id) === inst.id);
  }
  const { width: w, height: h } = S.image;
  const m = instanceMask(inst);
  if (m.length !== w * h) return;
  if (!highlight || highlight.width !== w || highlight.height !== h) highlight = new OffscreenCanvas(w, h);
  const ctx = highlight.getContext('2d');
  ctx.clearRect(0, 0, w, h);
  // Only the instance's box is written (a full-image ImageData per hover would be slow).
  const bb = Array.isArray(inst.bbox) ? inst.bbox : [0, 0, w, h];
  const x0 = Math.max(0, Math.floor(bb[0]));
  const y0 = Math.max(0, Math.floor(bb[1]));
  const x1 = Math.min(w, Math.ceil(bb[0] + bb[2]) + 1);
  const y1 = Math.min(h, Math.ceil(bb[1] + bb[3]) + 1);
  if (x1 <= x0 || y1 <= y0) return;
  const img = new ImageData(x1 - x0, y1 - y0);
  const px = new Uint32Array(img.data.buffer);
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) if (m[y * w + x]) px[(y - y0) * (x1 - x0) + (x - x0)] = 0xffffffff;
  }
  ctx.putImageData(img, x0, y0);
  viewer.setHighlightLayer(highlight, [x0, y0, x1 - x0, y1 - y0]);
}
