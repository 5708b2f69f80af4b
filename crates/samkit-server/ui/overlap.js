// Overlap of the pending mask with the accepted instances: the union of the other visible
// instances (all visible ones but the instance being edited), the overlapping pixels shown
// hatched on the canvas and counted in the status bar, and their exclusion from the mask
// when it is accepted ("exclude existing", mask-options.js).

import { maskBbox } from './rle.js';
import { tid, fmtInt } from './dom.js';
import { S } from './state.js';
import { viewer } from './canvas.js';
import { instanceMask } from './instances.js';
import { maskOptions } from './mask-options.js';

let union = null; // {key, mask}
let layer = null; // image-resolution canvas, opaque on the overlap
let last = { mask: null, key: '', count: 0 };

/** The instances a new mask must not paint over: the visible ones, less the one being edited. */
export function otherVisible() {
  if (S.hideAll) return [];
  const editing = S.prompt.editing?.id;
  return S.instances.filter((i) => !S.hidden.has(i.id) && i.id !== editing);
}

/** Union of the masks of `otherVisible()` (cached until they change). */
function othersUnion() {
  if (!S.image) return null;
  const { width: w, height: h } = S.image;
  const list = otherVisible();
  const key = `${S.image.id}|${list.map((i) => `${i.id}:${i.version}`).join(',')}`;
  if (union?.key === key) return union.mask;
  let mask = null;
  for (const inst of list) {
    const m = instanceMask(inst);
    if (m.length !== w * h) continue;
    mask ||= new Uint8Array(w * h);
    for (let i = 0; i < m.length; i++) mask[i] |= m[i];
  }
  union = { key, mask };
  return mask;
}

/** Pixels of `mask` that other visible instances already cover. */
export function overlapCount(mask) {
  const others = mask && othersUnion();
  if (!others) return 0;
  let n = 0;
  for (let i = 0; i < mask.length; i++) n += mask[i] & others[i];
  return n;
}

/** `mask` less the pixels of the other visible instances (a copy; `mask` if none overlap). */
export function excludeOthers(mask) {
  const others = othersUnion();
  if (!others || !overlapCount(mask)) return mask;
  const out = mask.slice();
  for (let i = 0; i < out.length; i++) if (others[i]) out[i] = 0;
  return out;
}

/** Hatch the overlap of the pending mask on the canvas and say its size in the status bar. */
export function paintOverlap() {
  const el = tid('overlap-status');
  const mask = S.prompt.mask;
  const others = mask && S.image ? othersUnion() : null;
  const key = union?.key || '';
  if (mask !== last.mask || key !== last.key) {
    last = { mask, key, count: 0 };
    if (others) {
      const { width: w, height: h } = S.image;
      const over = new Uint8Array(w * h);
      let n = 0;
      for (let i = 0; i < over.length; i++) n += over[i] = mask[i] & others[i];
      last.count = n;
      if (n) {
        if (!layer || layer.width !== w || layer.height !== h) layer = new OffscreenCanvas(w, h);
        const img = new ImageData(w, h);
        const px = new Uint32Array(img.data.buffer);
        for (let i = 0; i < px.length; i++) if (over[i]) px[i] = 0xffffffff;
        layer.getContext('2d').putImageData(img, 0, 0);
        viewer.setOverlapLayer(layer, maskBbox(over, w, h));
      }
    }
    if (!last.count) viewer.setOverlapLayer(null);
  }
  const n = last.count;
  el.hidden = !n;
  el.dataset.overlap = n;
  el.classList.toggle('kept', n > 0 && !maskOptions.exclude);
  el.textContent = n
    ? `overlap with existing: ${fmtInt(n)} px — ${maskOptions.exclude ? 'excluded on accept' : 'kept (exclusion off)'}`
    : '';
}
