// The canvas editor: draws the image, the accepted instances, the current mask and the
// prompts, handles zoom (wheel) and pan (space+drag, middle drag), and turns pointer
// gestures into image-space events: click = point, drag = box, brush strokes.

const DRAG_THRESHOLD = 5; // screen px before a press becomes a box drag

export class Viewer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {object} h handlers: mode() -> 'prompt'|'brush'|'eraser', onPoint(x, y, positive),
   *   onBox(box), onBrushStart(x, y), onBrushMove(x, y), onBrushEnd(), brushRadius() (image px),
   *   onHover(point or null) (optional: the pointer over the image, no button down)
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
    this.opacity = 0.55;
    this.points = [];
    this.box = null;
    this.dragBox = null;
    this.cursor = null; // last pointer position in image coords, for the brush outline
    this.spaceDown = false;
    this.gesture = null;
    this.pending = false;
    this.dpr = window.devicePixelRatio || 1;

    new ResizeObserver(() => this.resize()).observe(canvas.parentElement);
    canvas.addEventListener('pointerdown', (e) => this.onDown(e));
    canvas.addEventListener('pointermove', (e) => this.onMove(e));
    canvas.addEventListener('pointerup', (e) => this.onUp(e));
    canvas.addEventListener('pointercancel', () => { this.gesture = null; this.dragBox = null; this.draw(); });
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
    this.maskLayer = null;
    this.points = [];
    this.box = null;
    this.fit();
  }
  setInstancesLayer(layer) { this.instancesLayer = layer; this.draw(); }
  setMaskLayer(layer) { this.maskLayer = layer; this.draw(); }
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
    const pan = e.button === 1 || (e.button === 0 && this.spaceDown);
    this.canvas.setPointerCapture(e.pointerId);
    if (pan) {
      this.gesture = { kind: 'pan', sx: e.clientX, sy: e.clientY, tx: this.tx, ty: this.ty };
      this.updateCursor(true);
      e.preventDefault();
      return;
    }
    const mode = this.h.mode();
    const p = this.toImage(e.clientX, e.clientY);
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

  onMove(e) {
    const p = this.toImage(e.clientX, e.clientY);
    this.cursor = p;
    const g = this.gesture;
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
    const g = this.gesture;
    this.gesture = null;
    if (!g) return;
    if (g.kind === 'pan') {
      this.updateCursor();
    } else if (g.kind === 'brush') {
      this.h.onBrushEnd();
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

  updateCursor(grabbing = false) {
    const mode = this.h.mode();
    let c = 'crosshair';
    if (grabbing) c = 'grabbing';
    else if (this.spaceDown) c = 'grab';
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
    if (this.instancesLayer) {
      ctx.globalAlpha = this.opacity;
      ctx.drawImage(this.instancesLayer, 0, 0);
      ctx.globalAlpha = 1;
    }
    if (this.proposalsLayer) ctx.drawImage(this.proposalsLayer, 0, 0);
    if (this.maskLayer) {
      ctx.globalAlpha = Math.max(0.35, Math.min(1, this.opacity + 0.25));
      ctx.drawImage(this.maskLayer, 0, 0);
      ctx.globalAlpha = 1;
    }
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

export function isTyping(e) {
  const t = e.target;
  if (!t) return false;
  if (t.tagName === 'INPUT') return !['range', 'checkbox', 'radio', 'button', 'file', 'color'].includes(t.type);
  return t.tagName === 'TEXTAREA' || t.tagName === 'SELECT' || t.isContentEditable;
}
