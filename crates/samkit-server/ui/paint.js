// Pixel work on row-major binary masks: compositing the accepted instances into one
// overlay image, and the brush/eraser dab.
import { hexToRgb } from './rle.js';

/**
 * One ImageData with every instance filled in its colour (alpha `fillAlpha`) and outlined
 * (opaque). The editor asks for 255 (opaque) and applies the fill alpha when drawing.
 * @param {Array} list instances (their COCO `bbox` [x, y, w, h] bounds the scan when present)
 * @param {(inst) => Uint8Array} maskOf decoded mask of an instance
 * @param {(inst) => string} colorOf `#rrggbb`
 */
export function compositeInstances(list, w, h, maskOf, colorOf, fillAlpha = 200) {
  const img = new ImageData(w, h);
  const px = new Uint32Array(img.data.buffer); // RGBA bytes = little-endian ABGR words
  for (const inst of list) {
    const m = maskOf(inst);
    if (m.length !== w * h) continue;
    const [r, g, b] = hexToRgb(colorOf(inst));
    const fill = ((fillAlpha & 255) << 24) | (b << 16) | (g << 8) | r;
    const line = (255 << 24) | (b << 16) | (g << 8) | r;
    const bb = Array.isArray(inst.bbox) && inst.bbox.length === 4 ? inst.bbox : [0, 0, w, h];
    const x0 = Math.max(0, Math.floor(bb[0])), y0 = Math.max(0, Math.floor(bb[1]));
    const x1 = Math.min(w, Math.ceil(bb[0] + bb[2]) + 1), y1 = Math.min(h, Math.ceil(bb[1] + bb[3]) + 1);
    for (let y = y0; y < y1; y++) {
      const row = y * w;
      for (let x = x0; x < x1; x++) {
        const i = row + x;
        if (!m[i]) continue;
        const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || !m[i - 1] || !m[i + 1] || !m[i - w] || !m[i + w];
        px[i] = edge ? line : fill;
      }
    }
  }
  return img;
}

/** Set the pixels of a disc (centre cx, cy; radius r, image px) to `value` (1 brush, 0 eraser). */
export function dab(mask, w, h, cx, cy, r, value) {
  const y0 = Math.max(0, Math.floor(cy - r)), y1 = Math.min(h - 1, Math.ceil(cy + r));
  const x0 = Math.max(0, Math.floor(cx - r)), x1 = Math.min(w - 1, Math.ceil(cx + r));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if ((x + 0.5 - cx) ** 2 + (y + 0.5 - cy) ** 2 <= r * r) mask[y * w + x] = value;
    }
  }
}
