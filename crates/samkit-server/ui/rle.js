// COCO RLE <-> binary masks.
//
// Masks in the UI are `Uint8Array(h * w)` in *row-major* order (index = y * w + x), 0 or 1,
// because that is what canvases and brushes want. COCO RLE runs are *column-major*
// (Fortran order, y fastest) and the first run counts background pixels (may be 0).

/** Decode a COCO RLE object (`counts` as an array of runs or the compressed string). */
export function decodeRle(rle) {
  const [h, w] = rle.size;
  const counts = typeof rle.counts === 'string' ? decompressCounts(rle.counts) : rle.counts;
  const mask = new Uint8Array(h * w);
  let pos = 0; // column-major position
  for (let i = 0; i < counts.length; i++) {
    const n = counts[i];
    if (i % 2 === 1 && n > 0) fillColumnMajorRun(mask, h, w, pos, n);
    pos += n;
  }
  if (pos !== h * w) throw new Error(`RLE runs sum to ${pos}, expected ${h}x${w}=${h * w}`);
  return mask;
}

// Set `n` foreground pixels starting at column-major position `pos`, column by column.
function fillColumnMajorRun(mask, h, w, pos, n) {
  let x = Math.floor(pos / h);
  let y = pos - x * h;
  while (n > 0) {
    const k = Math.min(n, h - y);
    let idx = y * w + x;
    for (let j = 0; j < k; j++, idx += w) mask[idx] = 1;
    n -= k;
    x += 1;
    y = 0;
  }
}

/** Encode a row-major binary mask as uncompressed COCO RLE `{size:[h,w], counts:[...]}`. */
export function encodeRle(mask, w, h) {
  const counts = [];
  let current = 0; // value of the run being counted; COCO starts with background
  let run = 0;
  for (let x = 0; x < w; x++) {
    for (let y = 0, idx = x; y < h; y++, idx += w) {
      const v = mask[idx] ? 1 : 0;
      if (v === current) {
        run++;
      } else {
        counts.push(run);
        current = v;
        run = 1;
      }
    }
  }
  counts.push(run);
  return { size: [h, w], counts };
}

/** pycocotools' compressed counts string -> run lengths (see maskApi.c rleFrString). */
export function decompressCounts(s) {
  const counts = [];
  let p = 0;
  while (p < s.length) {
    let x = 0;
    let k = 0;
    let more = 1;
    while (more) {
      const c = s.charCodeAt(p) - 48;
      x |= (c & 0x1f) << (5 * k);
      more = c & 0x20;
      p++;
      k++;
      if (!more && c & 0x10) x |= -1 << (5 * k);
    }
    if (counts.length > 2) x += counts[counts.length - 2];
    counts.push(x);
  }
  return counts;
}

/** Number of foreground pixels. */
export function maskArea(mask) {
  let a = 0;
  for (let i = 0; i < mask.length; i++) a += mask[i];
  return a;
}

/** `[x, y, w, h]` of the foreground, or null for an empty mask. */
export function maskBbox(mask, w, h) {
  let x0 = w, y0 = h, x1 = -1, y1 = -1;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      if (mask[row + x]) {
        if (x < x0) x0 = x;
        if (x > x1) x1 = x;
        if (y < y0) y0 = y;
        y1 = y;
      }
    }
  }
  return x1 < 0 ? null : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

/** Parse `#rrggbb` into [r, g, b]. */
export function hexToRgb(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || '');
  const v = m ? parseInt(m[1], 16) : 0x1e90ff;
  return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
}

/**
 * Paint a mask into a new ImageData: foreground = rgba colour, background transparent.
 * With `edge` set, boundary pixels are drawn opaque so the outline stays visible.
 */
export function maskToImageData(mask, w, h, [r, g, b], alpha = 140, edge = true) {
  const img = new ImageData(w, h);
  const px = new Uint32Array(img.data.buffer);
  // ImageData is RGBA in memory; Uint32 view is little-endian on every browser we target.
  const fill = ((alpha & 255) << 24) | (b << 16) | (g << 8) | r;
  const line = (255 << 24) | (b << 16) | (g << 8) | r;
  for (let y = 0; y < h; y++) {
    const row = y * w;
    for (let x = 0; x < w; x++) {
      const i = row + x;
      if (!mask[i]) continue;
      if (
        edge &&
        (x === 0 || y === 0 || x === w - 1 || y === h - 1 ||
          !mask[i - 1] || !mask[i + 1] || !mask[i - w] || !mask[i + w])
      ) {
        px[i] = line;
      } else {
        px[i] = fill;
      }
    }
  }
  return img;
}
