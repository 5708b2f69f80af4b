// The canvas editor: draws the image, the accepted instances, the current mask and the
// prompts, handles zoom (wheel) and pan (space+drag, middle drag), and turns pointer
// gestures into image-space events: click = point, drag = box, brush strokes.
// Every mask is outlined in screen space with a contrasting halo (outline.js); the pending
// mask's outline is moving black-and-white dashes, so it never looks like an accepted
// instance; "outline only" leaves the fills out; a hovered instance is highlighted.

import { outlineOf, paintedRing, antsPattern } from './outline.js';

const DRAG_THRESHOLD = 5; // screen px before a press becomes a box drag
const INSTANCE_FILL = 200 / 255; // accepted instances' fill alpha at opacity 1
const PENDING_FILL = 120 / 255; // the pending mask's fill alpha (times its own opacity)
const ANTS_MS = 200; // the pending outline's dashes move every ANTS_MS (each step repaints)
const SETTLE_MS = 150; // during a pan or zoom, outlines are stretched copies until it rests

export class Viewer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} h handlers: mode() -> 'prompt'|'brush'|'eraser', onPoint(x, y, positive),
   *   onBox(box), onBrushStart(x, y), onBrushMove(x, y), onBrushEnd(), brushRadius() (image px),
   *   onHover(point or null) (optional: the pointer over the image, no button down)
   *   onSelect(x, y) (optional: Ctrl/⌘+click, pick the instance there), onVertexDown(point,
   *   scale) -> grabbed?, onVertexMove(point), onVertexUp(), drawOverlay(ctx, toScreen)
   *   (optional: the Polygon tool), onLevelStart(), onLevelMove(dx, dy), onLevelEnd()
   *   (optional: the Window tool's drag, screen px from where it started)
   */
  constructor(canvas, h) {
    this.canvas = canvas;
    this.ctx = canvas.getContext('2d');
    this.h = h;
    this.image = null;
    this.w = 0;
    this.h_ = 0;
    this.scale = 1;
    this.tx = 0;
    this.ty = 0;
    this.instancesLayer = null;
    this.proposalsLayer = null;
    this.maskLayer = null;
    this.highlightLayer = null;
    this.overlapLayer = null;
    this.versions = { inst: 0, mask: 0, high: 0 }; // bumped on every layer change (outline cache keys)
    this.bboxes = { inst: null, mask: null, high: null }; // image-px boxes holding each layer's pixels
    this.outlines = {}; // name -> {key, m, outline}
    this.viewKey = '';
    this.viewChanged = 0; // performance.now() of the last view change
    this.settleTimer = 0;
    this.outlineOnly = false;
    this.antsPhase = 0;
    this.antsTimer = 0;
    this.reducedMotion = window.matchMedia?.('(prefers-reduced-motion: reduce)').matches || false;
    this.opacity = 0.55;
    this.points = [];
    this.box = null;
    this.dragBox = null;
    this.cursor = null; // last pointer position in image coords, for the brush outline
    this.spaceDown = false;
    this.gesture = null;
    this.touches = new Map(); // pointerId -> {x, y} of the fingers down (pinch zoom)
    this.pending = false;
    this.busy = false; // a prediction is in flight (progress cursor)
    this.dpr = window.devicePixelRatio || 1;

    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
    canvas.addEventListener('pointerdown', (e) => this.onDown(e));
    canvas.addEventListener('pointermove', (e) => this.onMove(e));
    canvas.addEventListener('pointerup', (e) => this.onUp(e));
    canvas.addEventListener('pointercancel', (e) => { this.touches.delete(e.pointerId); this.gesture = null; this.dragBox = null; this.draw(); });
    canvas.addEventListener('pointerleave', () => { this.cursor = null; this.h.onHover?.(null); this.draw(); });
    canvas.addEventListener('contextmenu', (e) => e.preventDefault());
    canvas.addEventListener('auxclick', (e) => e.preventDefault());
    canvas.addEventListener('wheel', (e) => this.onWheel(e), { passive: false });
    window.addEventListener('keydown', (e) => {
      if (e.code === 'Space' && !isTyping(e)) {
        if (!this.spaceDown) { this.spaceDown = true; this.updateCursor(); }
        e.preventDefault();
      }
    });
    window.addEventListener('keyup', (e) => {
      if (e.code === 'Space') { this.spaceDown = false; this.updateCursor(); }
    });
    this.resize();
  }

  // --- state setters ------------------------------------------------------------------
  setImage(image, w, h) {
    this.image = image;
    this.w = w;
    this.h_ = h;
    this.instancesLayer = null;
    this.proposalsLayer = null;
    this.setMaskLayer(null);
    this.highlightLayer = null;
    this.overlapLayer = null;
    this.viewKey = '';
    this.points = [];
    this.box = null;
    this.fit();
  }
  /** The same image's pixels shown another way (a volume's window): view and layers kept. */
  replaceImage(image) {
    this.image = image;
    this.draw();
  }
  /**
   * Accepted instances: opaque colours where masked (the fill alpha is applied here);
   * `bbox` [x, y, w, h] holds all their pixels (null: unknown, the whole image).
   */
  setInstancesLayer(layer, bbox = null) { this.instancesLayer = layer; this.bboxes.inst = bbox; this.versions.inst++; this.draw(); }
  /** The pending mask: opaque where masked. Its outline's dashes move while it is shown. */
  setMaskLayer(layer, bbox = null) {
    this.maskLayer = layer;
    this.bboxes.mask = bbox;
    this.versions.mask++;
    const animate = !!layer && !this.reducedMotion;
    if (animate && !this.antsTimer) {
      this.antsTimer = setInterval(() => {
        if (document.hidden) return;
        this.antsPhase = (this.antsPhase + 2) % 8;
        this.draw();
      }, ANTS_MS);
    } else if (!animate && this.antsTimer) {
      clearInterval(this.antsTimer);
      this.antsTimer = 0;
    }
    this.draw();
  }
  /** Where the pending mask overlaps accepted instances (opaque there), drawn hatched; or null. */
  setOverlapLayer(layer, bbox = null) { this.overlapLayer = layer; this.bboxes.over = bbox; this.draw(); }
  /** The hovered instance (opaque where masked) or null. */
  setHighlightLayer(layer, bbox = null) { this.highlightLayer = layer; this.bboxes.high = bbox; this.versions.high++; this.draw(); }
  setOutlineOnly(on) { this.outlineOnly = !!on; this.draw(); }
  setProposalsLayer(layer) { this.proposalsLayer = layer; this.draw(); }
  setPrompts(points, box) { this.points = points; this.box = box; this.draw(); }
  setOpacity(a) { this.opacity = a; this.draw(); }

  resize() {
    const parent = this.canvas.parentElement;
    const r = parent.getBoundingClientRect();
    this.dpr = window.devicePixelRatio || 1;
    const cw = Math.max(1, Math.round(r.width));
    const ch = Math.max(1, Math.round(r.height));
    const fresh = !this.cssW;
    this.cssW = cw;
    this.cssH = ch;
    this.canvas.width = Math.round(cw * this.dpr);
    this.canvas.height = Math.round(ch * this.dpr);
    this.canvas.style.width = cw + 'px';
    this.canvas.style.height = ch + 'px';
    if (fresh || this.autoFit) this.fit();
    else this.draw();
  }

  /** Fit the whole image in the view. */
  fit() {
    this.autoFit = true;
    if (this.w && this.cssW) {
      const pad = 16;
      this.scale = Math.min((this.cssW - pad) / this.w, (this.cssH - pad) / this.h_);
      if (!(this.scale > 0)) this.scale = 1;
      this.tx = (this.cssW - this.w * this.scale) / 2;
      this.ty = (this.cssH - this.h_ * this.scale) / 2;
    }
    this.draw();
  }

  zoomBy(factor, cx = this.cssW / 2, cy = this.cssH / 2) {
    const s = Math.min(64, Math.max(0.05, this.scale * factor));
    const k = s / this.scale;
    this.tx = cx - (cx - this.tx) * k;
    this.ty = cy - (cy - this.ty) * k;
    this.scale = s;
    this.autoFit = false;
    this.draw();
  }

  /** Client (event) coordinates -> image pixel coordinates (not clamped). */
  toImage(clientX, clientY) {
    const r = this.canvas.getBoundingClientRect();
    return { x: (clientX - r.left - this.tx) / this.scale, y: (clientY - r.top - this.ty) / this.scale };
  }

  /** Image coords -> client coords (tests and the prompt overlay use it). */
  toClient(x, y) {
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + this.tx + x * this.scale, y: r.top + this.ty + y * this.scale };
  }

  inside(p) {
    return p.x >= 0 && p.y >= 0 && p.x < this.w && p.y < this.h_;
  }

  clamp(p) {
    return { x: Math.min(this.w - 0.5, Math.max(0, p.x)), y: Math.min(this.h_ - 0.5, Math.max(0, p.y)) };
  }

  // --- pointer gestures ------------------------------------------------------------------
  onDown(e) {
    if (!this.image) return;
    this.canvas.focus({ preventScroll: true });
    if (e.pointerType === 'touch') {
      this.touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
      if (this.touches.size >= 2) {
        this.canvas.setPointerCapture(e.pointerId);
        this.startPinch();
        return;
      }
    }
    // h.panOnly(): review mode (phone): a press or a finger pans, it never adds prompts.
    const pan = e.button === 1 || (e.button === 0 && (this.spaceDown || !!this.h.panOnly?.()));
    this.canvas.setPointerCapture(e.pointerId);
    if (pan) {
      this.gesture = { kind: 'pan', sx: e.clientX, sy: e.clientY, tx: this.tx, ty: this.ty };
      this.updateCursor(true);
      e.preventDefault();
      return;
    }
    const mode = this.h.mode();
    const p = this.toImage(e.clientX, e.clientY);
    if (e.button === 0 && (e.ctrlKey || e.metaKey) && this.h.onSelect) {
      // Ctrl/⌘+click picks an accepted instance (to edit it) in every tool.
      if (this.inside(p)) this.h.onSelect(p.x, p.y);
      return;
    }
    if (mode === 'polygon' && e.button === 0 && this.h.onVertexDown?.(p, this.scale)) {
      this.gesture = { kind: 'vertex' };
      return;
    }
    if (mode === 'window' && e.button === 0) {
      // The Window tool (volumes): a drag sets the window, it adds no prompt.
      this.gesture = { kind: 'level', sx: e.clientX, sy: e.clientY };
      this.h.onLevelStart?.();
      return;
    }
    if ((mode === 'brush' || mode === 'eraser') && e.button === 0) {
      this.gesture = { kind: 'brush' };
      this.h.onBrushStart(p.x, p.y);
      return;
    }
    if (e.button === 0 || e.button === 2) {
      const negative = e.button === 2 || e.altKey;
      this.gesture = { kind: 'press', sx: e.clientX, sy: e.clientY, start: p, negative, button: e.button };
    }
  }

  /** Two fingers down: whatever the first started is dropped, they zoom and pan. */
  startPinch() {
    if (this.gesture?.kind === 'brush') this.h.onBrushEnd();
    this.dragBox = null;
    const [a, b] = [...this.touches.values()];
    this.gesture = { kind: 'pinch', d: Math.hypot(a.x - b.x, a.y - b.y) || 1, cx: (a.x + b.x) / 2, cy: (a.y + b.y) / 2, scale: this.scale, tx: this.tx, ty: this.ty };
  }

  onPinch(g) {
    const [a, b] = [...this.touches.values()];
    const r = this.canvas.getBoundingClientRect();
    const s = Math.min(64, Math.max(0.05, (g.scale * Math.hypot(a.x - b.x, a.y - b.y)) / g.d));
    // The image point under the fingers' first midpoint follows their midpoint.
    const ix = (g.cx - r.left - g.tx) / g.scale;
    const iy = (g.cy - r.top - g.ty) / g.scale;
    this.scale = s;
    this.tx = (a.x + b.x) / 2 - r.left - ix * s;
    this.ty = (a.y + b.y) / 2 - r.top - iy * s;
    this.autoFit = false;
    this.draw();
  }

  onMove(e) {
    if (this.touches.has(e.pointerId)) this.touches.set(e.pointerId, { x: e.clientX, y: e.clientY });
    const p = this.toImage(e.clientX, e.clientY);
    this.cursor = p;
    const g = this.gesture;
    if (g?.kind === 'pinch') {
      if (this.touches.size >= 2) this.onPinch(g);
      return;
    }
    if (!g) {
      this.h.onHover?.(p);
      if (this.h.mode() !== 'prompt') this.draw();
      return;
    }
    if (g.kind === 'pan') {
      this.tx = g.tx + (e.clientX - g.sx);
      this.ty = g.ty + (e.clientY - g.sy);
      this.autoFit = false;
      this.draw();
    } else if (g.kind === 'brush') {
      this.h.onBrushMove(p.x, p.y);
      this.draw();
    } else if (g.kind === 'level') {
      this.h.onLevelMove?.(e.clientX - g.sx, e.clientY - g.sy);
    } else if (g.kind === 'vertex') {
      this.h.onVertexMove(p);
    } else if (g.kind === 'press' || g.kind === 'box') {
      if (g.kind === 'press' && g.button === 0 && Math.hypot(e.clientX - g.sx, e.clientY - g.sy) > DRAG_THRESHOLD) {
        g.kind = 'box';
      }
      if (g.kind === 'box') {
        const a = this.clamp(g.start);
        const b = this.clamp(p);
        this.dragBox = [Math.min(a.x, b.x), Math.min(a.y, b.y), Math.max(a.x, b.x), Math.max(a.y, b.y)];
        this.draw();
      }
    }
  }

  onUp(e) {
    this.touches.delete(e.pointerId);
    const g = this.gesture;
    if (g?.kind === 'pinch' && this.touches.size) return; // the other finger ends the pinch
    this.gesture = null;
    if (!g || g.kind === 'pinch') return;
    if (g.kind === 'pan') {
      this.updateCursor();
    } else if (g.kind === 'brush') {
      this.h.onBrushEnd();
    } else if (g.kind === 'level') {
      this.h.onLevelEnd?.();
    } else if (g.kind === 'vertex') {
      this.h.onVertexUp();
    } else if (g.kind === 'box') {
      const box = this.dragBox;
      this.dragBox = null;
      if (box && box[2] - box[0] >= 2 && box[3] - box[1] >= 2) this.h.onBox(box.map((v) => Math.round(v * 10) / 10));
      this.draw();
    } else if (g.kind === 'press') {
      const p = g.start;
      if (this.inside(p)) this.h.onPoint(Math.round(p.x * 10) / 10, Math.round(p.y * 10) / 10, !g.negative);
    }
  }

  onWheel(e) {
    if (!this.image) return;
    e.preventDefault();
    const r = this.canvas.getBoundingClientRect();
    const factor = Math.exp(-e.deltaY * (e.deltaMode === 1 ? 0.05 : 0.0015));
    this.zoomBy(factor, e.clientX - r.left, e.clientY - r.top);
  }

  /** A prediction is in flight: the prompt cursor shows it. */
  setBusy(busy) {
    if (this.busy === busy) return;
    this.busy = busy;
    this.updateCursor();
  }

  updateCursor(grabbing = false) {
    const mode = this.h.mode();
    let c = this.busy ? 'progress' : 'crosshair';
    if (grabbing) c = 'grabbing';
    else if (this.spaceDown || this.h.panOnly?.()) c = 'grab';
    else if (mode === 'brush' || mode === 'eraser') c = 'none';
    this.canvas.style.cursor = c;
  }

  // --- drawing -------------------------------------------------------------------------
  draw() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.paint();
    });
  }

  /**
   * Draw the screen-space outline of `layer` (cached until the layer or the view changes),
   * its inner ring in the layer's colours (style null), a colour, or moving dashes ('ants').
   * Leaves the context in image space (`m`).
   */
  drawOutline(name, layer, m, style, inner = 2) {
    const { ctx, canvas } = this;
    const k = Math.max(1, Math.round(this.dpr));
    const key = `${this.versions[name]}|${canvas.width}x${canvas.height}|${inner}`;
    let c = this.outlines[name];
    const sameView = c && c.m.every((v, i) => v === m[i]);
    // While the view moves (pan, wheel zoom) the last outline is stretched into place;
    // it is made again, sharp, once the view rests.
    const moving = performance.now() - this.viewChanged < SETTLE_MS;
    if (!c || c.key !== key || (!sameView && !moving)) {
      const outline = outlineOf(layer, canvas.width, canvas.height, m, { inner: inner * k, unit: k, bbox: this.bboxes[name] });
      c = { key, m: [...m], outline };
      this.outlines[name] = c;
    } else if (!sameView) {
      clearTimeout(this.settleTimer);
      this.settleTimer = setTimeout(() => this.draw(), SETTLE_MS);
    }
    if (!c.outline) return; // off screen
    const { halo, ring } = c.outline;
    const s = m[0] / c.m[0];
    ctx.setTransform(s, 0, 0, s, m[4] - s * c.m[4], m[5] - s * c.m[5]);
    const { x, y } = c.outline;
    ctx.drawImage(halo, x, y);
    if (style === 'ants') {
      if (!this.ants || this.ants.canvas?.width !== ring.width || this.ants.canvas?.height !== ring.height) {
        const scratch = new OffscreenCanvas(ring.width, ring.height);
        this.ants = { canvas: scratch, pattern: antsPattern(scratch.getContext('2d'), 8 * k) };
      }
      this.ants.pattern.setTransform(new DOMMatrix([1, 0, 0, 1, this.antsPhase * k, 0]));
      ctx.drawImage(paintedRing(c.outline, this.ants.pattern, this.ants.canvas), x, y);
    } else if (style) {
      this.ringScratch = paintedRing(c.outline, style, this.ringScratch);
      ctx.drawImage(this.ringScratch, x, y);
    } else {
      ctx.drawImage(ring, x, y);
    }
    ctx.setTransform(...m);
  }

  /** `layer` (opaque where set) filled with screen-space stripes over its box on screen. */
  drawHatched(layer, m) {
    const { ctx, canvas } = this;
    const b = this.bboxes.over || [0, 0, layer.width, layer.height];
    const x0 = Math.max(0, Math.floor(m[0] * b[0] + m[4]));
    const y0 = Math.max(0, Math.floor(m[3] * b[1] + m[5]));
    const x1 = Math.min(canvas.width, Math.ceil(m[0] * (b[0] + b[2]) + m[4]));
    const y1 = Math.min(canvas.height, Math.ceil(m[3] * (b[1] + b[3]) + m[5]));
    if (x1 <= x0 || y1 <= y0) return;
    let c = this.hatchScratch;
    if (!c || c.width !== x1 - x0 || c.height !== y1 - y0) c = this.hatchScratch = new OffscreenCanvas(x1 - x0, y1 - y0);
    const sc = c.getContext('2d');
    sc.setTransform(1, 0, 0, 1, 0, 0);
    sc.globalCompositeOperation = 'copy';
    sc.imageSmoothingEnabled = false;
    sc.setTransform(m[0], 0, 0, m[3], m[4] - x0, m[5] - y0);
    sc.drawImage(layer, 0, 0);
    sc.setTransform(1, 0, 0, 1, 0, 0);
    sc.globalCompositeOperation = 'source-in';
    if (!this.hatch) this.hatch = hatchPattern(sc, Math.max(1, Math.round(this.dpr)));
    // Anchored to the screen, so the stripes keep their place while the view moves.
    this.hatch.setTransform(new DOMMatrix([1, 0, 0, 1, -x0, -y0]));
    sc.fillStyle = this.hatch;
    sc.fillRect(0, 0, c.width, c.height);
    sc.globalCompositeOperation = 'source-over';
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.drawImage(c, x0, y0);
    ctx.setTransform(...m);
  }

  paint() {
    const { ctx, dpr } = this;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    if (!this.image) return;
    this.h.onView?.(this.scale);
    ctx.setTransform(dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.tx, dpr * this.ty);
    ctx.imageSmoothingEnabled = this.scale < 4;
    ctx.drawImage(this.image, 0, 0, this.w, this.h_);
    ctx.imageSmoothingEnabled = false;
    const m = [dpr * this.scale, 0, 0, dpr * this.scale, dpr * this.tx, dpr * this.ty];
    const viewKey = `${m.join(',')}|${this.canvas.width}x${this.canvas.height}`;
    if (viewKey !== this.viewKey) {
      // The first view of an image is not a move: its outlines are made sharp at once.
      if (this.viewKey) this.viewChanged = performance.now();
      this.viewKey = viewKey;
    }
    if (this.instancesLayer) {
      if (!this.outlineOnly) {
        ctx.globalAlpha = this.opacity * INSTANCE_FILL;
        ctx.drawImage(this.instancesLayer, 0, 0);
        ctx.globalAlpha = 1;
      }
      this.drawOutline('inst', this.instancesLayer, m, null);
    }
    if (this.proposalsLayer) ctx.drawImage(this.proposalsLayer, 0, 0);
    if (this.highlightLayer) {
      ctx.globalAlpha = 0.3;
      ctx.drawImage(this.highlightLayer, 0, 0);
      ctx.globalAlpha = 1;
      this.drawOutline('high', this.highlightLayer, m, '#fff', 3);
    }
    if (this.maskLayer) {
      if (!this.outlineOnly) {
        ctx.globalAlpha = Math.max(0.35, Math.min(1, this.opacity + 0.25)) * PENDING_FILL;
        ctx.drawImage(this.maskLayer, 0, 0);
        ctx.globalAlpha = 1;
      }
      this.drawOutline('mask', this.maskLayer, m, 'ants');
    }
    if (this.overlapLayer) this.drawHatched(this.overlapLayer, m);
    // Vector overlays in screen space so their size does not depend on the zoom.
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    const S = (x, y) => [this.tx + x * this.scale, this.ty + y * this.scale];
    const drawBox = (b, dashed) => {
      const [x0, y0] = S(b[0], b[1]);
      const [x1, y1] = S(b[2], b[3]);
      ctx.lineWidth = 2;
      ctx.setLineDash(dashed ? [6, 4] : []);
      ctx.strokeStyle = '#000';
      ctx.strokeRect(x0 - 1, y0 - 1, x1 - x0 + 2, y1 - y0 + 2);
      ctx.strokeStyle = '#ffd400';
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
      ctx.setLineDash([]);
    };
    if (this.box) drawBox(this.box, false);
    if (this.dragBox) drawBox(this.dragBox, true);
    for (const pt of this.points) {
      const [sx, sy] = S(pt.x, pt.y);
      const pos = pt.label === 'positive';
      ctx.beginPath();
      ctx.arc(sx, sy, 6, 0, Math.PI * 2);
      ctx.fillStyle = pos ? '#1db954' : '#e5383b';
      ctx.fill();
      ctx.lineWidth = 2;
      ctx.strokeStyle = '#fff';
      ctx.stroke();
      ctx.beginPath();
      ctx.strokeStyle = '#fff';
      ctx.moveTo(sx - 3, sy);
      ctx.lineTo(sx + 3, sy);
      if (pos) {
        ctx.moveTo(sx, sy - 3);
        ctx.lineTo(sx, sy + 3);
      }
      ctx.stroke();
    }
    this.h.drawOverlay?.(ctx, S); // the Polygon tool's outline and vertices
    const mode = this.h.mode();
    if ((mode === 'brush' || mode === 'eraser') && this.cursor) {
      const [sx, sy] = S(this.cursor.x, this.cursor.y);
      const r = Math.max(1, this.h.brushRadius() * this.scale);
      ctx.beginPath();
      ctx.arc(sx, sy, r, 0, Math.PI * 2);
      ctx.lineWidth = 1.5;
      ctx.setLineDash(mode === 'eraser' ? [4, 3] : []);
      ctx.strokeStyle = '#fff';
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }
}

/** Diagonal magenta and black stripes (the overlap of the pending mask with instances). */
function hatchPattern(ctx, k) {
  const n = 8 * k;
  const tile = new OffscreenCanvas(n, n);
  const tc = tile.getContext('2d');
  tc.fillStyle = 'rgba(0, 0, 0, 0.55)';
  tc.fillRect(0, 0, n, n);
  tc.strokeStyle = '#ff2bd6';
  tc.lineWidth = 3 * k;
  tc.beginPath();
  for (let d = -n; d <= n; d += n) {
    tc.moveTo(d, n);
    tc.lineTo(d + n, 0);
  }
  tc.stroke();
  return ctx.createPattern(tile, 'repeat');
}

export function isTyping(e) {
  const t = e.target;
  if (!t) return false;
  if (t.tagName === 'INPUT') return !['range', 'checkbox', 'radio', 'button', 'file', 'color'].includes(t.type);
  return t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable;
}
