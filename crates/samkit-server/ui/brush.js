// Brush and eraser: a stroke paints discs into (a copy of) the pending mask, which becomes
// "edited by hand"; a whole stroke is one undo step. Also the tool switch (V / B / E / G).

import { dab } from './paint.js';
import { S } from './state.js';
import { viewer } from './canvas.js';
import { setPrompt, pushPromptAction, paintCurrentMask, updateButtons } from './prompts.js';
import { refreshOutline } from './polygon.js';

let stroke = null;
export function brushStart(x, y) {
  if (!S.imageReady || S.image.missing) return;
  const { width: w, height: h } = S.image;
  const before = S.prompt;
  const mask = before.mask ? before.mask.slice() : new Uint8Array(w * h);
  stroke = { before, mask, last: { x, y }, erase: S.tool === 'eraser' };
  S.prompt = { ...before, mask, edited: true, pending: false, timing: null };
  brushDab(x, y);
  paintCurrentMask();
}

export function brushMove(x, y) {
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

export function brushEnd() {
  if (!stroke) return;
  const next = { ...S.prompt, iou: null };
  pushPromptAction(stroke.erase ? 'eraser' : 'brush', stroke.before, next);
  stroke = null;
  setPrompt(next);
}

export function setTool(tool) {
  S.tool = tool;
  refreshOutline();
  viewer.updateCursor();
  viewer.draw();
  updateButtons();
}
