// "Segment everything": SAM's automatic mask generator run by the server on the open image
// (POST/GET/DELETE /api/images/{id}/auto, docs/API.md), its progress, and its masks shown as
// outlined proposals. A click on a proposal accepts it with the current category, right-click
// dismisses it; "Accept all" and "Discard" act on all of them. Accepting is an ordinary
// instance creation (history-recorded) and every action here is on the undo stack.

import { decodeRle } from './rle.js';
import { tid, fmtInt } from './dom.js';

const POLL_MS = 250;
const FINISHED = new Set(['done', 'failed', 'cancelled']);

export class Proposals {
  /**
   * @param {object} o
   *   api, viewer, undo: the app's;
   *   image() -> the open image (or null);
   *   create(proposal, job) -> Promise<instance> (saves one as an instance);
   *   remove(instance) -> Promise (deletes it again, for undo);
   *   restore(instance) -> Promise<instance> (brings it back, for redo);
   *   instances() -> the image's instances (to hide proposals already accepted);
   *   showError(err, context).
   */
  constructor(o) {
    this.o = o;
    this.job = null; // the job as last polled
    this.list = []; // proposals of the finished job, each {index, rle, area, ..., mask, state}
    this.owner = null; // Int32Array: per pixel, the list index of the smallest pending proposal (-1: none)
    this.hover = -1;
    this.layer = null;
    this.pollSeq = 0;
    this.busy = false;
  }

  bind() {
    tid('auto-run').addEventListener('click', () => this.run());
    tid('auto-accept-all').addEventListener('click', () => this.acceptAll());
    tid('auto-discard').addEventListener('click', () => this.discard());
    this.render();
  }

  pending() {
    return this.list.filter((p) => p.state === 'pending');
  }

  /** The open image changed: forget the old proposals, pick up the new image's job. */
  async open(image) {
    this.pollSeq++;
    this.job = null;
    this.setList([]);
    if (!image || image.missing) return;
    let r;
    try {
      r = await this.o.api.get(`/api/images/${image.id}/auto?brief=true`);
    } catch (e) {
      if (e.status !== 404 && e.status !== 0) this.o.showError(e, 'segment everything');
      this.render();
      return;
    }
    if (this.o.image()?.id !== image.id) return;
    this.follow(image.id, r.job);
  }

  params() {
    const num = (id) => Number(tid(id).value);
    return {
      points_per_side: num('auto-points'),
      pred_iou_thresh: num('auto-iou'),
      stability_score_thresh: num('auto-stability'),
    };
  }

  async run() {
    const image = this.o.image();
    if (!image || image.missing) return;
    const before = this.snapshot();
    // Shown at once (before the server answers): the old proposals are going away.
    this.pollSeq++;
    this.job = { state: 'starting', points_done: 0, points_total: 0, seconds: 0 };
    this.setList([]);
    let r;
    try {
      r = await this.o.api.post(`/api/images/${image.id}/auto`, this.params());
    } catch (e) {
      this.o.showError(e, 'segment everything');
      this.reinstate(before);
      return;
    }
    if (this.o.image()?.id !== image.id) return;
    if (before.list.length) {
      // Starting over replaces the proposals shown: undo brings them back.
      this.o.undo.push({ label: 'segment everything', undo: async () => this.reinstate(before), redo: async () => this.setList([]) });
    }
    this.follow(image.id, r.job);
  }

  /** Polls the job until it is finished, then loads its proposals. */
  async follow(imageId, job) {
    const seq = ++this.pollSeq;
    this.job = job;
    this.render(job.state === 'done' ? 'loading the proposals…' : undefined);
    while (!FINISHED.has(this.job.state)) {
      await new Promise((res) => setTimeout(res, POLL_MS));
      if (seq !== this.pollSeq) return;
      try {
        this.job = (await this.o.api.get(`/api/images/${imageId}/auto?brief=true`)).job;
      } catch (e) {
        if (seq !== this.pollSeq) return;
        this.job = null;
        if (e.status !== 404) this.o.showError(e, 'segment everything');
        this.render();
        return;
      }
      if (seq !== this.pollSeq) return;
      // 'done' is shown once the proposals are loaded, below.
      this.render(this.job.state === 'done' ? 'loading the proposals…' : undefined);
    }
    if (this.job.state !== 'done') {
      this.render();
      return;
    }
    let full;
    try {
      full = (await this.o.api.get(`/api/images/${imageId}/auto`)).job;
    } catch (e) {
      if (seq === this.pollSeq) this.o.showError(e, 'segment everything');
      return;
    }
    if (seq !== this.pollSeq || full.id !== this.job.id) return;
    this.job = full;
    // Proposals this job already turned into instances (before a reload) stay accepted.
    const taken = new Set(
      this.o.instances()
        .filter((i) => i.prompts?.auto?.job === full.id)
        .map((i) => i.prompts.auto.index),
    );
    this.setList((full.proposals || []).map((p) => ({ ...p, state: taken.has(p.index) ? 'accepted' : 'pending' })));
  }

  setList(list) {
    this.list = list;
    this.hover = -1;
    this.rebuild();
  }

  snapshot() {
    return { job: this.job, list: this.list.map((p) => ({ ...p })) };
  }

  reinstate(snap) {
    this.pollSeq++;
    this.job = snap.job;
    this.setList(snap.list);
  }

  /** Pixel ownership (smallest pending proposal on top) and the outline layer. */
  rebuild() {
    const image = this.o.image();
    const pend = this.pending();
    if (!image || !pend.length) {
      this.owner = null;
      this.o.viewer.setProposalsLayer(null);
      this.render();
      return;
    }
    const { width: w, height: h } = image;
    const owner = new Int32Array(w * h).fill(-1);
    const order = this.list.map((p, i) => i).filter((i) => this.list[i].state === 'pending');
    order.sort((a, b) => this.list[b].area - this.list[a].area);
    for (const i of order) {
      const p = this.list[i];
      if (!p.mask) p.mask = decodeRle(p.rle);
      const m = p.mask;
      const [bx, by, bw, bh] = p.bbox;
      for (let y = by; y < Math.min(h, by + bh + 1); y++) {
        for (let x = bx, k = y * w + bx; x < Math.min(w, bx + bw + 1); x++, k++) if (m[k]) owner[k] = i;
      }
    }
    this.owner = owner;
    this.paint();
    this.render();
  }

  /** Outlines of every pending proposal (black/white dashes), the hovered one filled. */
  paint() {
    const image = this.o.image();
    if (!image || !this.owner) return;
    const { width: w, height: h } = image;
    if (!this.layer || this.layer.width !== w || this.layer.height !== h) this.layer = new OffscreenCanvas(w, h);
    const img = new ImageData(w, h);
    const px = new Uint32Array(img.data.buffer);
    const white = 0xffffffff, black = 0xff000000, fill = (110 << 24) | (0xf0 << 16) | (0xc9 << 8) | 0x4c;
    for (const p of this.list) {
      if (p.state !== 'pending') continue;
      const m = p.mask;
      const [bx, by, bw, bh] = p.bbox;
      const hovered = this.list[this.hover] === p;
      for (let y = by; y < Math.min(h, by + bh + 1); y++) {
        for (let x = bx; x < Math.min(w, bx + bw + 1); x++) {
          const k = y * w + x;
          if (!m[k]) continue;
          const edge = x === 0 || y === 0 || x === w - 1 || y === h - 1 || !m[k - 1] || !m[k + 1] || !m[k - w] || !m[k + w];
          if (edge) px[k] = ((x + y) >> 2) & 1 ? white : black;
          else if (hovered && !px[k]) px[k] = fill;
        }
      }
    }
    this.layer.getContext('2d').putImageData(img, 0, 0);
    this.o.viewer.setProposalsLayer(this.layer);
  }

  /** Index in `list` of the proposal under image point (x, y), or -1. */
  at(x, y) {
    const image = this.o.image();
    if (!this.owner || !image) return -1;
    const xi = Math.floor(x), yi = Math.floor(y);
    if (xi < 0 || yi < 0 || xi >= image.width || yi >= image.height) return -1;
    return this.owner[yi * image.width + xi];
  }

  onHover(p) {
    const i = p ? this.at(p.x, p.y) : -1;
    if (i === this.hover) return;
    this.hover = i;
    this.paint();
  }

  /** A click on the canvas: true when it was on a proposal (accepted or dismissed). */
  click(x, y, positive) {
    const i = this.at(x, y);
    if (i < 0) return false;
    if (positive) this.accept([i], 'accept proposal');
    else this.dismiss(i);
    return true;
  }

  dismiss(i) {
    const p = this.list[i];
    p.state = 'dismissed';
    this.rebuild();
    this.o.undo.push({
      label: 'dismiss proposal',
      undo: async () => { p.state = 'pending'; this.rebuild(); },
      redo: async () => { p.state = 'dismissed'; this.rebuild(); },
    });
  }

  acceptAll() {
    const idx = this.list.map((p, i) => i).filter((i) => this.list[i].state === 'pending');
    if (idx.length) this.accept(idx, 'accept all proposals');
  }

  /** Saves proposals (list indices) as instances, one undoable action for all of them. */
  async accept(indices, label) {
    if (this.busy) return;
    this.busy = true;
    const job = this.job;
    const done = []; // [proposal, instance]
    try {
      for (const i of indices) {
        const p = this.list[i];
        if (p.state !== 'pending') continue;
        p.state = 'saving';
        try {
          done.push([p, await this.o.create(p, job)]);
          p.state = 'accepted';
        } catch (e) {
          p.state = 'pending';
          this.o.showError(e, 'could not accept the proposal');
          break;
        }
        if (indices.length > 1) this.render(`saving ${done.length}/${indices.length}…`);
      }
    } finally {
      this.busy = false;
      this.rebuild();
    }
    if (!done.length) return;
    this.o.undo.push({
      label,
      undo: async () => {
        for (const pair of [...done].reverse()) {
          await this.o.remove(pair[1]);
          pair[0].state = 'pending';
        }
        this.rebuild();
      },
      redo: async () => {
        for (const pair of done) {
          pair[1] = await this.o.restore(pair[1]);
          pair[0].state = 'accepted';
        }
        this.rebuild();
      },
    });
  }

  async discard() {
    const image = this.o.image();
    if (!image) return;
    const before = this.snapshot();
    const running = this.job && !FINISHED.has(this.job.state);
    this.pollSeq++;
    try {
      await this.o.api.del(`/api/images/${image.id}/auto`);
    } catch (e) {
      if (e.status !== 404) this.o.showError(e, 'discard');
    }
    this.job = null;
    this.setList([]);
    // A finished job's proposals can come back (they are kept here); a stopped run cannot.
    if (!running && before.list.some((p) => p.state === 'pending')) {
      this.o.undo.push({
        label: 'discard proposals',
        undo: async () => this.reinstate(before),
        redo: async () => { this.job = null; this.setList([]); },
      });
    }
  }

  /** The panel: progress while running, counts and buttons once done. */
  render(note) {
    const job = this.job;
    const image = this.o.image();
    const running = job && !FINISHED.has(job.state);
    const n = this.pending().length;
    tid('auto-run').disabled = !image || image.missing;
    tid('auto-run').textContent = running ? 'Restart' : 'Segment everything';
    tid('auto-accept-all').disabled = !n || this.busy;
    tid('auto-discard').disabled = !job && !this.list.length;
    const fill = tid('auto-progress-fill');
    const frac = job && job.points_total ? job.points_done / job.points_total : 0;
    fill.style.width = `${Math.round((job?.state === 'done' ? 1 : frac) * 100)}%`;
    tid('auto-progress').hidden = !running;
    let text = '';
    if (note) text = note;
    else if (job?.state === 'starting') text = 'starting…';
    else if (!job) text = this.list.length ? '' : 'Proposes every object of the image (SAM’s automatic mask generator).';
    else if (job.state === 'queued') text = 'waiting for another image’s job…';
    else if (job.state === 'encoding') text = 'waiting for the image to be encoded…';
    else if (job.state === 'running') text = `points ${fmtInt(job.points_done)}/${fmtInt(job.points_total)} · ${job.seconds.toFixed(1)} s`;
    else if (job.state === 'failed') text = `failed: ${job.error}`;
    else if (job.state === 'cancelled') text = 'stopped';
    else {
      const total = this.list.length;
      text = `${n} proposal${n === 1 ? '' : 's'} left of ${total} (${job.seconds.toFixed(1)} s) — click one to accept it as the current category, right-click to dismiss`;
      if (!total) text = `no masks passed the thresholds (${job.seconds.toFixed(1)} s); lower them and run again`;
      else if (!n) text = `all ${total} proposals accepted or dismissed (${job.seconds.toFixed(1)} s)`;
    }
    const st = tid('auto-status');
    st.textContent = text;
    st.dataset.state = note && job?.state === 'done' && !this.list.length ? 'loading' : job?.state || 'none';
    st.dataset.pending = n;
  }
}
