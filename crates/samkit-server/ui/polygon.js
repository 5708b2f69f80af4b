// Editing the pending mask as an outline (the Polygon tool, G): the mask's contours come
// from the server (samkit-mask's polygons with holes and every part, simplified by 1 px:
// POST /api/images/{id}/outline), are drawn with their vertices, and dragging a vertex
// reshapes the mask: the polygons are filled back here (each part with its holes,
// even-odd) into the pending mask, which is then "edited by hand". One drag is one undo
// step. Works on a new mask and on an instance being edited alike.

import { encodeRle } from './rle.js';
import { api, S } from './state.js';
import { showError } from './errors.js';
import { viewer } from './canvas.js';
import { setPrompt, pushPromptAction } from './prompts.js';

const TOLERANCE = 1; // px: Douglas–Peucker of the outline (IoU ≈ 0.99 with 5× fewer vertices)
const GRAB_PX = 8; // screen px around a vertex that grab it

let outline = null; // {mask, parts: [{exterior: [[x, y]...], holes: [[[x, y]...]...]}]}
let loading = null; // the mask whose outline is being fetched
let drag = null; // {part, hole (-1: exterior), index, before}

const ringOf = (part, hole) => (hole < 0 ? part.exterior : part.holes[hole]);

/** Fetch the outline of the pending mask when the Polygon tool shows it (and it changed). */
export async function refreshOutline() {
  const mask = S.tool === 'polygon' && S.image ? S.prompt.mask : null;
  if (!mask) {
    if (outline) {
      outline = null;
      viewer.draw();
    }
    return;
  }
  if (outline?.mask === mask || loading === mask || drag) return;
  loading = mask;
  try {
    const { width: w, height: h } = S.image;
    const r = await api.outline(S.image.id, { rle: encodeRle(mask, w, h), tolerance: TOLERANCE });
    if (S.prompt.mask === mask) {
      outline = { mask, parts: r.parts };
      viewer.draw();
    }
  } catch (e) {
    showError(e, 'outline');
  } finally {
    if (loading === mask) loading = null;
  }
}

/** Vertices of the outline shown, for tests: [{part, hole, index, x, y}]. */
export function outlineVertices() {
  const out = [];
  outline?.parts.forEach((part, p) => {
    [part.exterior, ...part.holes].forEach((ring, k) => ring.forEach(([x, y], index) => out.push({ part: p, hole: k - 1, index, x, y })));
  });
  return out;
}

/** Press at image point `pt`: grab the nearest vertex within reach (true) or not (false). */
export function vertexDown(pt, scale) {
  if (!outline || S.prompt.mask !== outline.mask) return false;
  let best = null;
  let bestD = GRAB_PX / scale;
  for (const v of outlineVertices()) {
    const d = Math.hypot(v.x - pt.x, v.y - pt.y);
    if (d <= bestD) {
      best = v;
      bestD = d;
    }
  }
  if (!best) return false;
  drag = { part: best.part, hole: best.hole, index: best.index, before: S.prompt };
  return true;
}

export function vertexMove(pt) {
  if (!drag) return;
  const { width: w, height: h } = S.image;
  const ring = ringOf(outline.parts[drag.part], drag.hole);
  // Vertices lie on pixel edges: 0..w, 0..h.
  ring[drag.index] = [Math.min(w, Math.max(0, Math.round(pt.x))), Math.min(h, Math.max(0, Math.round(pt.y)))];
  viewer.draw();
}

export function vertexUp() {
  if (!drag) return;
  const { before } = drag;
  drag = null;
  const mask = rasterize(outline.parts, S.image.width, S.image.height);
  outline = { mask, parts: outline.parts };
  const next = { ...before, mask, edited: true, iou: null, pending: false, timing: null };
  S.predictSeq++; // an answer still in flight must not replace the reshaped mask
  setPrompt(next);
  pushPromptAction('polygon', before, next);
}

/** The mask inside the polygons: each part filled with its holes (even-odd), parts united. */
export function rasterize(parts, w, h) {
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext('2d');
  ctx.fillStyle = '#fff';
  for (const part of parts) {
    ctx.beginPath();
    for (const ring of [part.exterior, ...part.holes]) {
      ring.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath();
    }
    ctx.fill('evenodd');
  }
  const d = ctx.getImageData(0, 0, w, h).data;
  const mask = new Uint8Array(w * h);
  for (let i = 0; i < mask.length; i++) mask[i] = d[i * 4 + 3] >= 128 ? 1 : 0;
  return mask;
}

/** Draw the outline and its vertices (screen space; `toScreen(x, y)` -> [sx, sy]). */
export function drawOutline(ctx, toScreen) {
  if (S.tool !== 'polygon' || !outline || (S.prompt.mask !== outline.mask && !drag)) return;
  ctx.lineWidth = 1.5;
  for (const part of outline.parts) {
    for (const ring of [part.exterior, ...part.holes]) {
      ctx.beginPath();
      ring.forEach(([x, y], i) => {
        const [sx, sy] = toScreen(x, y);
        if (i) ctx.lineTo(sx, sy);
        else ctx.moveTo(sx, sy);
      });
      ctx.closePath();
      ctx.strokeStyle = '#ffd400';
      ctx.stroke();
    }
  }
  for (const v of outlineVertices()) {
    const [sx, sy] = toScreen(v.x, v.y);
    ctx.fillStyle = '#ffd400';
    ctx.strokeStyle = '#000';
    ctx.fillRect(sx - 3, sy - 3, 6, 6);
    ctx.strokeRect(sx - 3, sy - 3, 6, 6);
  }
}
