// Mask outlines drawn in screen space, so they are as thick at 10 % zoom as at 800 %: a mask
// layer (image resolution, opaque where masked, in any colours) is drawn once at the view
// transform into a canvas of the screen's size, and its outlines are made there by shifting
// it (dilation / erosion with a square) and compositing. Every outline has a contrasting
// halo: a black line then a light line just outside the mask, so it shows on red objects,
// dark backgrounds and bright ones alike. The ring inside the mask keeps the layer's colours
// (accepted instances) or is repainted by the caller (the pending mask's moving dashes).

const PAD = 8; // device px around the work area: masks cut by its edge get no false ring

function blank(w, h) {
  const c = new OffscreenCanvas(w, h);
  const ctx = c.getContext('2d');
  ctx.imageSmoothingEnabled = false;
  return c;
}

function copy(src) {
  const c = blank(src.width, src.height);
  c.getContext('2d').drawImage(src, 0, 0);
  return c;
}

/** Union of `src` shifted by -r..r along x, then of that along y (a (2r+1)² square). */
function dilate(src, r) {
  const hor = blank(src.width, src.height);
  const hc = hor.getContext('2d');
  for (let d = -r; d <= r; d++) hc.drawImage(src, d, 0);
  const out = blank(src.width, src.height);
  const oc = out.getContext('2d');
  for (let d = -r; d <= r; d++) oc.drawImage(hor, 0, d);
  return out;
}

/** Intersection of `src` shifted by -r..r along x, then along y. */
function erode(src, r) {
  const hor = copy(src);
  const hc = hor.getContext('2d');
  hc.globalCompositeOperation = 'destination-in';
  for (let d = 1; d <= r; d++) {
    hc.drawImage(src, d, 0);
    hc.drawImage(src, -d, 0);
  }
  const out = copy(hor);
  const oc = out.getContext('2d');
  oc.globalCompositeOperation = 'destination-in';
  for (let d = 1; d <= r; d++) {
    oc.drawImage(hor, 0, d);
    oc.drawImage(hor, 0, -d);
  }
  return out;
}

/** `c` with every pixel's colour replaced by `style`, alpha kept. */
function recolour(c, style) {
  const ctx = c.getContext('2d');
  ctx.globalCompositeOperation = 'source-in';
  ctx.fillStyle = style;
  ctx.fillRect(0, 0, c.width, c.height);
  ctx.globalCompositeOperation = 'source-over';
  return c;
}

/**
 * Outlines of `layer` as seen through the view transform. Only the part of the screen that
 * `bbox` covers is worked on (the cost is that area's, not the screen's).
 * @param {CanvasImageSource} layer image-resolution mask layer (opaque where masked)
 * @param {number} w, h the screen canvas size in device pixels
 * @param {number[]} m the view transform [a, 0, 0, d, e, f] (image px -> device px)
 * @param {object} o inner: ring width inside the mask (device px); unit: halo line width;
 *   bbox: [x, y, width, height] in image px that holds every masked pixel (null: all)
 * @returns {{halo: OffscreenCanvas, ring: OffscreenCanvas, x: number, y: number} | null}
 *   canvases to draw at device (x, y) with the identity transform; null if off screen
 */
export function outlineOf(layer, w, h, m, { inner = 2, unit = 1, bbox = null } = {}) {
  const b = bbox || [0, 0, layer.width, layer.height];
  const x0 = Math.max(-PAD, Math.floor(m[0] * b[0] + m[4]) - PAD);
  const y0 = Math.max(-PAD, Math.floor(m[3] * b[1] + m[5]) - PAD);
  const x1 = Math.min(w + PAD, Math.ceil(m[0] * (b[0] + b[2]) + m[4]) + PAD);
  const y1 = Math.min(h + PAD, Math.ceil(m[3] * (b[1] + b[3]) + m[5]) + PAD);
  if (x1 <= x0 || y1 <= y0) return null;
  const base = blank(x1 - x0, y1 - y0);
  const bc = base.getContext('2d');
  bc.setTransform(m[0], m[1], m[2], m[3], m[4] - x0, m[5] - y0);
  bc.drawImage(layer, 0, 0);
  // Inside: the mask minus its erosion, in the layer's colours.
  const ring = copy(base);
  const rc = ring.getContext('2d');
  rc.globalCompositeOperation = 'destination-out';
  rc.drawImage(erode(base, inner), 0, 0);
  // Outside: a black line, then a light one (each `unit` wide).
  const d1 = recolour(dilate(base, unit), '#000');
  const d2 = recolour(dilate(d1, unit), 'rgba(255, 255, 255, 0.8)');
  const halo = d2;
  const hc = halo.getContext('2d');
  hc.drawImage(d1, 0, 0);
  hc.globalCompositeOperation = 'destination-out';
  hc.drawImage(base, 0, 0);
  hc.globalCompositeOperation = 'source-over';
  return { halo, ring, x: x0, y: y0 };
}

/** The ring of `outline` painted with `style` (a colour or a pattern) into a scratch canvas. */
export function paintedRing(outline, style, scratch) {
  const { ring } = outline;
  let c = scratch;
  if (!c || c.width !== ring.width || c.height !== ring.height) c = blank(ring.width, ring.height);
  const ctx = c.getContext('2d');
  ctx.globalCompositeOperation = 'copy';
  ctx.drawImage(ring, 0, 0);
  recolour(c, style);
  return c;
}

/** Black and white diagonal stripes ("marching ants" when its offset moves). */
export function antsPattern(ctx, period = 8) {
  const tile = blank(period, period);
  const tc = tile.getContext('2d');
  tc.fillStyle = '#fff';
  tc.fillRect(0, 0, period, period);
  tc.fillStyle = '#111';
  tc.beginPath();
  const half = period / 2;
  tc.moveTo(0, 0);
  tc.lineTo(half, 0);
  tc.lineTo(0, half);
  tc.closePath();
  tc.moveTo(period, 0);
  tc.lineTo(period, half);
  tc.lineTo(half, period);
  tc.lineTo(0, period);
  tc.closePath();
  tc.fill();
  return ctx.createPattern(tile, 'repeat');
}
