// Fast unit tests of the UI's pure modules (RLE codec, Markdown renderer, undo stack),
// run by node directly: no browser, no server.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeRle, encodeRle, decompressCounts, maskArea, maskBbox } from '../../crates/samkit-server/ui/rle.js';
import { renderMarkdown } from '../../crates/samkit-server/ui/markdown.js';
import { UndoStack } from '../../crates/samkit-server/ui/undo.js';

test('RLE: column-major runs, first run is background', () => {
  // 3x2 image (h=3, w=2); column-major pixels: (0,0)(1,0)(2,0)(0,1)(1,1)(2,1)
  // runs [1,3,2]: bg at (y0,x0); fg at (y1,x0),(y2,x0),(y0,x1); bg at (y1,x1),(y2,x1)
  const m = decodeRle({ size: [3, 2], counts: [1, 3, 2] });
  assert.deepEqual([...m], [0, 1, 1, 0, 1, 0]); // row-major: row0 [0,1], row1 [1,0], row2 [1,0]
  assert.deepEqual(encodeRle(m, 2, 3), { size: [3, 2], counts: [1, 3, 2] });
  assert.equal(maskArea(m), 3);
  assert.deepEqual(maskBbox(m, 2, 3), [0, 0, 2, 3]);
});

test('RLE: leading foreground gives a 0 first run, empty mask one run', () => {
  const m = new Uint8Array(4).fill(1);
  assert.deepEqual(encodeRle(m, 2, 2).counts, [0, 4]);
  assert.deepEqual(encodeRle(new Uint8Array(6), 3, 2).counts, [6]);
  assert.deepEqual([...decodeRle({ size: [2, 2], counts: [0, 4] })], [1, 1, 1, 1]);
  assert.throws(() => decodeRle({ size: [2, 2], counts: [1, 1] }), /sum/);
});

test('RLE: random round trip', () => {
  let seed = 7;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff);
  for (let k = 0; k < 50; k++) {
    const w = 1 + Math.floor(rnd() * 40), h = 1 + Math.floor(rnd() * 40);
    const m = new Uint8Array(w * h).map(() => (rnd() < 0.3 ? 1 : 0));
    const rle = encodeRle(m, w, h);
    assert.equal(rle.counts.reduce((a, b) => a + b, 0), w * h);
    assert.deepEqual(decodeRle(rle), m);
  }
});

test('RLE: pycocotools compressed strings', () => {
  // pycocotools.mask.encode of a 4x4 mask with a 2x2 square at rows 1-2, cols 1-2 -> "52203"
  // (runs [5,2,2,2,5]); check decoding against the uncompressed runs.
  assert.deepEqual(decompressCounts('52203'), [5, 2, 2, 2, 5]);
  const m = decodeRle({ size: [4, 4], counts: '52203' });
  assert.equal(maskArea(m), 4);
  assert.deepEqual(maskBbox(m, 4, 4), [1, 1, 2, 2]);
});

test('Markdown: escapes HTML, renders headings, lists, bold, safe links only', () => {
  const html = renderMarkdown('# Title\n\n- one **bold**\n- two <b>x</b>\n\n1. first\n\nsee [docs](https://a.b/c?d=1&e=2) and [bad](javascript:alert(1)) `<i>`');
  assert.match(html, /<h3>Title<\/h3>/);
  assert.match(html, /<ul><li>one <strong>bold<\/strong><\/li><li>two &lt;b&gt;x&lt;\/b&gt;<\/li><\/ul>/);
  assert.match(html, /<ol><li>first<\/li><\/ol>/);
  assert.match(html, /<a href="https:\/\/a.b\/c\?d=1&amp;e=2" target="_blank" rel="noopener noreferrer">docs<\/a>/);
  assert.doesNotMatch(html, /href="javascript/);
  assert.match(html, /<code>&lt;i&gt;<\/code>/);
  assert.doesNotMatch(renderMarkdown('<img src=x onerror=alert(1)>'), /<img/);
  assert.doesNotMatch(renderMarkdown('[x](" onmouseover="alert(1))'), /onmouseover="/);
});

test('UndoStack: undo/redo order, redo cleared by a new action', async () => {
  const log = [];
  const s = new UndoStack();
  const act = (n) => ({ undo: async () => log.push(`-${n}`), redo: async () => log.push(`+${n}`) });
  s.push(act(1));
  s.push(act(2));
  await s.undo();
  await s.undo();
  await s.redo();
  s.push(act(3));
  assert.equal(s.canRedo(), false);
  await s.undo();
  assert.deepEqual(log, ['-2', '-1', '+1', '-3']);
});

test('paint: brush dab and instance compositing', async () => {
  globalThis.ImageData ??= class { constructor(w, h) { this.width = w; this.height = h; this.data = new Uint8ClampedArray(w * h * 4); } };
  const { dab, compositeInstances } = await import('../../crates/samkit-server/ui/paint.js');
  const w = 20, h = 10;
  const m = new Uint8Array(w * h);
  dab(m, w, h, 10, 5, 3, 1);
  const a = maskArea(m);
  assert.ok(a > 20 && a < 36, `disc of radius 3 has ~28 px, got ${a}`);
  assert.deepEqual(maskBbox(m, w, h), [7, 2, 6, 6]);
  dab(m, w, h, 10, 5, 1, 0);
  assert.ok(maskArea(m) < a);
  dab(m, w, h, -50, -50, 3, 1); // off-image: no-op, no throw
  const img = compositeInstances([{ bbox: [7, 2, 6, 6] }], w, h, () => m, () => '#ff0000');
  const px = new Uint32Array(img.data.buffer);
  const painted = px.filter((v) => v !== 0).length;
  assert.equal(painted, maskArea(m), 'every mask pixel and only those are painted');
  assert.equal(img.data[(5 * w + 7) * 4], 255, 'red channel');
});

test('UndoStack snapshot/restore and Drafts: per-image work kept, empty work dropped, oldest evicted', async () => {
  const { Drafts } = await import('../../crates/samkit-server/ui/drafts.js');
  const s = new UndoStack();
  const log = [];
  s.push({ undo: async () => log.push('-a'), redo: async () => log.push('+a') });
  s.push({ undo: async () => log.push('-b'), redo: async () => log.push('+b') });
  await s.undo();
  const snap = s.snapshot();
  s.clear();
  assert.equal(s.canUndo(), false);
  s.restore(snap);
  assert.equal(s.canUndo() && s.canRedo(), true);
  await s.redo();
  await s.undo();
  await s.undo();
  assert.deepEqual(log, ['-b', '+b', '-b', '-a']);

  const empty = { points: [], box: null, mask: null };
  const work = { points: [{ x: 1, y: 2, label: 'positive' }], box: null, mask: new Uint8Array(4) };
  const d = new Drafts(2);
  d.save(1, { prompt: empty, undo: { done: [], undone: [] } });
  assert.equal(d.take(1), null, 'nothing to keep');
  d.save(1, { prompt: work, undo: { done: [], undone: [] } });
  d.save(2, { prompt: empty, undo: { done: ['x'], undone: [] } });
  assert.equal(d.pending(1), true);
  assert.equal(d.pending(2), false, 'an undo history alone is kept but not flagged');
  d.save(3, { prompt: work, undo: { done: [], undone: [] } });
  assert.equal(d.take(1), null, 'the oldest is evicted');
  assert.deepEqual(d.take(2).undo.done, ['x']);
  assert.equal(d.take(3).prompt, work);
  assert.equal(d.take(3), null, 'taken once');
});
