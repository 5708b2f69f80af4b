// End-to-end: how the editor shows masks and messages, as an annotator coming from CVAT or
// Label Studio expects it (issue 15): outlines with a contrasting halo, the pending mask
// drawn distinctly, outline-only mode, hover labels. Needs no model (`--no-model`):
// instances are made through the API and predictions are stubbed in the browser. Canvas
// pixels are read back to check what is drawn.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, makeProject, startServer, launchBrowser, newPage, screenshot, api, solidPng, tearDown } from './support/harness.mjs';
import { encodeRle } from '../../crates/samkit-server/ui/rle.js';

// A grey 480 × 320 image with a red area: a red instance on it is the issue's "red mask on a
// red cup" case.
const FLAT = 'flat.png';
const W = 480;
const H = 320;
const GREY = [128, 128, 128];
const RED_AREA = [60, 40, 260, 240];
const RED = [220, 20, 20];
const VIEWPORTS = [[1440, 900], [1024, 700], [390, 844]];

let server, browser, project;

before(async () => {
  project = makeProject('editor');
  fs.writeFileSync(path.join(project.dir, FLAT), solidPng(W, H, GREY, [[...RED_AREA, RED]]));
  server = await startServer(project.dir, { waitModel: false, extraArgs: ['--no-model'] });
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'editor' }));

function rectMask(w, h, [x0, y0, x1, y1]) {
  const m = new Uint8Array(w * h);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return m;
}
const rectRle = (w, h, box) => encodeRle(rectMask(w, h, box), w, h);

async function openAs(user, imageId, viewport) {
  const page = await newPage(browser, { user, viewport });
  await page.goto(`${server.url}/?poll=0#image=${imageId}`);
  await page.waitForFunction(() => window.samkit?.ready);
  return page;
}

/**
 * Answer every predict request with one rectangular candidate `box` (or `box(n, request)`
 * for the n-th request), after `delayMs` (or `delayMs(n)`); `fail(n)` answers 500 instead.
 */
async function stubPredict(page, w, h, box, { delayMs = 0, fail = () => false } = {}) {
  const requests = [];
  await page.route('**/api/images/*/predict', async (route) => {
    const body = route.request().postDataJSON();
    requests.push(body);
    const n = requests.length;
    const delay = typeof delayMs === 'function' ? delayMs(n) : delayMs;
    if (delay) await new Promise((r) => setTimeout(r, delay));
    if (fail(n, body)) {
      await route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'decoder exploded (stub)', code: 'internal' }) });
      return;
    }
    const b = typeof box === 'function' ? box(n, body) : box;
    await route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({
        token: `stub-${n}`, decode_ms: 10 * n, wait_ms: 0,
        candidates: [{ rle: rectRle(w, h, b), iou: 0.91, token: 0, stability: 0.95, area: (b[2] - b[0]) * (b[3] - b[1]), bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]] }],
      }),
    });
  });
  return requests;
}

/** Wait until the canvas has painted the current state (two animation frames). */
const painted = (page) => page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));

/**
 * Canvas pixels [r, g, b] along a screen row through image row `y`, from image column
 * `x` - `before` screen px to `x` + `after` screen px, as [{dx, rgb}] (dx in screen px from
 * the left edge of image column x).
 */
async function rowPixels(page, x, y, before = 8, after = 8) {
  return page.evaluate(([x, y, before, after]) => {
    const c = document.querySelector('#canvas');
    const r = c.getBoundingClientRect();
    const dpr = c.width / r.width;
    const p = window.samkit.toClient(x, y + 0.5);
    const ex = (p.x - r.left) * dpr;
    const sy = Math.round((p.y - r.top) * dpr);
    const x0 = Math.floor(ex - before * dpr);
    const n = Math.ceil((before + after) * dpr);
    const d = c.getContext('2d').getImageData(x0, sy, n, 1).data;
    const out = [];
    for (let i = 0; i < n; i++) out.push({ dx: (x0 + i + 0.5 - ex) / dpr, rgb: [d[i * 4], d[i * 4 + 1], d[i * 4 + 2]] });
    return out;
  }, [x, y, before, after]);
}

/** The canvas pixel just right of the left edge of image column x, on image row y. */
async function justInside(page, x, y) {
  return (await rowPixels(page, x, y, 1, 3)).find((p) => p.dx >= 0.4).rgb;
}

async function clickAt(page, x, y, opts) {
  const p = await page.evaluate(([a, b]) => window.samkit.toClient(a, b), [x, y]);
  await page.mouse.click(p.x, p.y, opts);
}

async function pixelAt(page, x, y) {
  return page.evaluate(([x, y]) => {
    const c = document.querySelector('#canvas');
    const r = c.getBoundingClientRect();
    const dpr = c.width / r.width;
    const p = window.samkit.toClient(x, y);
    const d = c.getContext('2d').getImageData(Math.round((p.x - r.left) * dpr), Math.round((p.y - r.top) * dpr), 1, 1).data;
    return [d[0], d[1], d[2]];
  }, [x, y]);
}

const dark = ([r, g, b]) => Math.max(r, g, b) < 60;
const light = ([r, g, b]) => Math.min(r, g, b) > 170;
const near = (a, b, tol = 12) => a.every((v, i) => Math.abs(v - b[i]) <= tol);

async function flatImage() {
  const { images } = await api(server.url, 'GET', '/api/images');
  return images.find((i) => i.name === FLAT);
}

async function category(name, color) {
  const { categories } = await api(server.url, 'GET', '/api/categories');
  return categories.find((c) => c.name === name) || api(server.url, 'POST', '/api/categories', { name, color });
}

async function instance(image, cat, box, id) {
  return api(server.url, 'POST', `/api/images/${image.id}/instances`, {
    category_id: cat.id, rle: rectRle(image.width, image.height, box), prompts: { points: [], box: null }, client_id: `e2e-editor-${id}`,
  }, 'setup');
}

test('masks are easy to see: halo outline, distinct pending mask, outline-only mode (O), hover label and highlight', async (t) => {
  const image = await flatImage();
  const red = await category('cup', '#dc1414');
  const blue = await category('plate', '#1e50ff');
  const onRed = await instance(image, red, [100, 80, 200, 180], 'red');
  const onGrey = await instance(image, blue, [300, 60, 400, 140], 'blue');
  const page = await openAs('ines', image.id, { width: 1440, height: 900 });
  await stubPredict(page, W, H, [300, 190, 420, 280]);
  await page.locator('[data-testid="instance-item"]').nth(1).waitFor();
  await painted(page);

  // 1. A red instance on a red area: outside its edge, a black then a light line (the halo).
  const shown = await rowPixels(page, 100, 130);
  await page.keyboard.press('h');
  await painted(page);
  const hiddenRow = await rowPixels(page, 100, 130);
  await page.keyboard.press('h');
  await painted(page);
  const outside = shown.filter((p) => p.dx < 0);
  t.diagnostic(`left edge of the red instance, shown: ${JSON.stringify(shown.map((p) => [Math.round(p.dx * 10) / 10, ...p.rgb]))}`);
  assert.ok(hiddenRow.every((p) => near(p.rgb, RED, 4)), 'the image is red there (instances hidden)');
  assert.ok(outside.some((p) => p.dx > -3 && dark(p.rgb)), 'a black line just outside the mask');
  assert.ok(outside.some((p) => p.dx > -4 && light(p.rgb)), 'a light line outside the black one');
  assert.ok(outside.filter((p) => p.dx < -4).every((p) => near(p.rgb, RED, 4)), 'the halo is thin: the image beyond it is untouched');

  // 2. The pending mask: its outline is moving black-and-white dashes, not the category colour.
  const click = async (x, y, opts) => {
    const p = await page.evaluate(([a, b]) => window.samkit.toClient(a, b), [x, y]);
    await page.mouse.click(p.x, p.y, opts);
  };
  await click(360, 235);
  await page.getByTestId('mask-status').filter({ hasText: 'mask: 10,800 px' }).waitFor();
  await painted(page);
  await screenshot(page, 'item3-pending');
  const ringColumn = async () => {
    const col = [];
    for (let y = 200; y < 270; y += 3) {
      col.push(await justInside(page, 300, y));
    }
    return col;
  };
  const first = await ringColumn();
  assert.ok(first.some(dark) && first.some(light), `pending outline has dark and light dashes: ${JSON.stringify(first)}`);
  await page.waitForTimeout(400);
  const later = await ringColumn();
  assert.notDeepEqual(later, first, 'the dashes move');
  // An accepted instance's inner ring is its colour, solid.
  const blueRing = await justInside(page, 300, 100);
  assert.ok(blueRing[2] > 200 && blueRing[0] < 80, `accepted outline in the category colour: ${blueRing}`);
  await screenshot(page, 'item3-masks-1440x900');

  // 3. Outline only (O): no fill inside the blue instance, the outline stays.
  const filled = await pixelAt(page, 350, 100);
  assert.ok(filled[2] > filled[0] + 20, `filled: blue tint inside (${filled})`);
  await page.keyboard.press('o');
  await painted(page);
  assert.equal(await page.getByTestId('outline-toggle').getAttribute('aria-pressed'), 'true');
  assert.ok(near(await pixelAt(page, 350, 100), GREY, 6), 'outline only: the image shows inside');
  assert.ok(near(await pixelAt(page, 400, 265), GREY, 6), 'outline only: the pending mask too');
  const ring = await justInside(page, 300, 100);
  assert.ok(ring[2] > 200, `outline kept in outline-only mode: ${ring}`);
  await screenshot(page, 'item3-outline-only');
  await page.getByTestId('outline-toggle').click();
  await painted(page);
  assert.equal(await page.getByTestId('outline-toggle').getAttribute('aria-pressed'), 'false');
  assert.ok((await pixelAt(page, 350, 100))[2] > 150);
  await page.keyboard.press('?');
  assert.match(await page.getByTestId('help-panel').textContent(), /O\s*outline only/);
  await page.keyboard.press('Escape');

  // 4. Hover: the instance under the pointer is named and highlighted, its row marked.
  const label = page.getByTestId('hover-label');
  const plain = await pixelAt(page, 330, 120);
  const p = await page.evaluate(() => window.samkit.toClient(330, 120));
  await page.mouse.move(p.x, p.y);
  await label.filter({ hasText: `plate #${onGrey.id}` }).waitFor();
  assert.equal(await page.evaluate(() => window.samkit.hovered), onGrey.id);
  await page.locator(`[data-testid="instance-item"][data-id="${onGrey.id}"].hover`).waitFor();
  await painted(page);
  const lit = await pixelAt(page, 330, 120);
  assert.ok(lit[0] > plain[0] + 30 && lit[1] > plain[1] + 30, `hovered instance highlighted (${plain} -> ${lit})`);
  await screenshot(page, 'item3-hover');
  // Hovering a row highlights its instance on the canvas too.
  await page.locator(`[data-testid="instance-item"][data-id="${onRed.id}"] .iname`).hover();
  await page.waitForFunction((id) => window.samkit.hovered === id, onRed.id);
  assert.equal(await label.isVisible(), false, 'no canvas label while on the list');
  await painted(page);
  const redLit = await pixelAt(page, 150, 130);
  assert.ok(redLit[1] > 60, `red instance highlighted from its row (${redLit})`);
  await page.getByTestId('project-name').hover();
  await page.waitForFunction(() => window.samkit.hovered === null);
  assert.deepEqual(page.errors, []);

  // The same at the other sizes.
  for (const [w, h] of VIEWPORTS) {
    await page.setViewportSize({ width: w, height: h });
    await page.keyboard.press('f');
    await painted(page);
    const q = await page.evaluate(() => window.samkit.toClient(150, 130));
    await page.mouse.move(q.x, q.y);
    await page.waitForTimeout(150);
    await screenshot(page, `item3-masks-${w}x${h}`);
  }
  await page.context().close();
});

test('messages are toasts over the page: the canvas does not move; errors stay until dismissed, info fades', async () => {
  const image = await flatImage();
  const page = await openAs('jonas', image.id, { width: 1440, height: 900 });
  const where = () => page.evaluate(() => {
    const r = document.querySelector('#canvas').getBoundingClientRect();
    const v = window.samkit.viewer;
    return { x: r.x, y: r.y, w: r.width, h: r.height, scale: v.scale, tx: v.tx, ty: v.ty };
  });
  await painted(page);
  const start = await where();
  const info = page.getByTestId('banner-info');
  const error = page.getByTestId('banner-error');

  // An info toast (2.5 s) and an error toast.
  await page.getByTestId('user-name').fill('jonas-2');
  await page.getByTestId('user-name').press('Enter');
  await info.filter({ hasText: 'Annotating as "jonas-2"' }).waitFor();
  await painted(page);
  assert.deepEqual(await where(), start, 'an info toast moves nothing');
  await page.route('**/api/images/*/status', (route) => route.fulfill({ status: 500, contentType: 'application/json', body: JSON.stringify({ error: 'disk full (stub)', code: 'internal' }) }));
  await page.getByTestId('image-status').selectOption('done');
  await error.filter({ hasText: 'disk full (stub)' }).waitFor();
  await painted(page);
  assert.deepEqual(await where(), start, 'an error toast moves nothing');
  assert.equal(await page.getByTestId('image-status').inputValue(), 'todo', 'the failed change is not shown as done');
  await screenshot(page, 'item7-toasts-1440x900');
  // Info fades out by itself; the error stays until dismissed.
  await info.waitFor({ state: 'hidden', timeout: 5000 });
  await page.waitForTimeout(500);
  assert.equal(await error.isVisible(), true, 'the error is still shown');
  await error.locator('[data-action="dismiss"]').click();
  await error.waitFor({ state: 'hidden' });
  assert.deepEqual(await where(), start);

  // The same at the other sizes: the toast floats over the page, nothing moves.
  for (const [w, h] of VIEWPORTS.slice(1)) {
    await page.setViewportSize({ width: w, height: h });
    await page.waitForTimeout(100);
    await painted(page);
    const here = await where();
    await page.getByTestId('image-status').selectOption('done', { force: true }).catch(() => page.evaluate(() => {
      const s = document.querySelector('[data-testid="image-status"]');
      s.value = 'done';
      s.dispatchEvent(new Event('change', { bubbles: true }));
    }));
    await error.filter({ hasText: 'disk full (stub)' }).waitFor();
    await painted(page);
    assert.deepEqual(await where(), here, `an error toast moves nothing at ${w}×${h}`);
    const box = await error.boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= w + 1, `the toast fits the ${w} px width`);
    await screenshot(page, `item7-toasts-${w}x${h}`);
    await error.locator('[data-action="dismiss"]').click();
  }
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('unaccepted work is kept per image: N/P and the list bring back the mask, its prompts and undo steps', async () => {
  const image = await flatImage();
  const { images } = await api(server.url, 'GET', '/api/images');
  const next = images[images.findIndex((i) => i.id === image.id) + 1];
  const page = await openAs('kim', image.id, { width: 1440, height: 900 });
  const boxes = { 1: [300, 190, 420, 280], 2: [300, 190, 380, 280] };
  const requests = await stubPredict(page, W, H, (n) => boxes[n] || [20, 250, 60, 300], { delayMs: (n) => (n === 3 ? 1500 : 0) });
  const st = page.getByTestId('mask-status');
  const prompts = page.getByTestId('prompt-status');
  const name = page.getByTestId('image-name');
  const draftMark = page.locator(`[data-testid="image-item"][data-id="${image.id}"][data-draft="1"]`);
  await clickAt(page, 360, 235);
  await st.filter({ hasText: 'mask: 10,800 px' }).waitFor();
  await clickAt(page, 400, 235, { button: 'right' });
  await st.filter({ hasText: 'mask: 7,200 px' }).waitFor();

  // N: the next image starts clean; the list marks the image left as having kept work.
  await page.keyboard.press('n');
  await name.filter({ hasText: next.name }).waitFor();
  await page.waitForFunction(() => window.samkit.ready);
  assert.doesNotMatch(await st.textContent(), /mask: /);
  await draftMark.waitFor();
  await screenshot(page, 'item2-draft-marker');
  // P: the mask, its prompts and its undo steps are back, without a new prediction.
  await page.keyboard.press('p');
  await name.filter({ hasText: FLAT }).waitFor();
  await st.filter({ hasText: 'mask: 7,200 px' }).waitFor();
  assert.match(await prompts.textContent(), /1 \+, 1 −/);
  assert.equal(requests.length, 2, 'given back as it was, not predicted again');
  assert.equal(await draftMark.count(), 0, 'no mark on the image being edited');
  await painted(page);
  await screenshot(page, 'item2-draft-restored');
  await page.keyboard.press('Control+z');
  await st.filter({ hasText: 'mask: 10,800 px' }).waitFor();

  // The same through the image list, and redo is kept too.
  await page.getByTestId('image-list').locator(`[data-id="${next.id}"]`).click();
  await name.filter({ hasText: next.name }).waitFor();
  await page.getByTestId('image-list').locator(`[data-id="${image.id}"]`).click();
  await name.filter({ hasText: FLAT }).waitFor();
  await st.filter({ hasText: 'mask: 10,800 px' }).waitFor();
  await page.keyboard.press('Control+Shift+z');
  await st.filter({ hasText: 'mask: 7,200 px' }).waitFor();

  // Leaving while a prediction is in flight: it is made again on return.
  await page.keyboard.press('Escape');
  await st.filter({ hasText: /no predictions/ }).waitFor();
  await clickAt(page, 40, 280);
  await page.keyboard.press('n');
  await name.filter({ hasText: next.name }).waitFor();
  await page.keyboard.press('p');
  await name.filter({ hasText: FLAT }).waitFor();
  await st.filter({ hasText: 'mask: 2,000 px' }).waitFor({ timeout: 10000 });
  assert.equal(requests.length, 4, 'the cut-short prediction was asked again');
  // Accepting it saves what is shown; the image keeps no pending work afterwards.
  await page.keyboard.press('Enter');
  await page.locator('[data-testid="instance-item"]').filter({ hasText: '2,000 px' }).waitFor();
  await page.keyboard.press('n');
  await name.filter({ hasText: next.name }).waitFor();
  assert.equal(await draftMark.count(), 0, 'nothing pending after the accept');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('waiting and errors: spinner and busy cursor while predicting, a failed prediction is taken back with Retry, the timing label follows undo', async () => {
  const image = await flatImage();
  const page = await openAs('lena', image.id, { width: 1440, height: 900 });
  const requests = await stubPredict(page, W, H, (n) => (n === 1 ? [300, 190, 420, 280] : [300, 190, 380, 280]), {
    delayMs: (n) => (n === 1 ? 1000 : 0),
    fail: (n) => n === 2,
  });
  const st = page.getByTestId('mask-status');
  const prompts = page.getByTestId('prompt-status');
  const spinner = page.getByTestId('predict-spinner');
  const cursor = () => page.evaluate(() => document.querySelector('#canvas').style.cursor);

  // 1. While the (slow) prediction is in flight: a spinner on the canvas, a busy cursor.
  await clickAt(page, 360, 235);
  await spinner.waitFor();
  assert.equal(await cursor(), 'progress');
  await screenshot(page, 'item8-predicting');
  await st.filter({ hasText: 'mask: 10,800 px' }).waitFor();
  await spinner.waitFor({ state: 'hidden' });
  assert.equal(await cursor(), 'crosshair');
  await prompts.filter({ hasText: '(decoder 10 ms)' }).waitFor();

  // 2. A refinement whose prediction fails: the point is taken back, the old mask stays
  //    consistent with the prompts shown, and the error toast offers Retry.
  await clickAt(page, 400, 235, { button: 'right' });
  const error = page.getByTestId('banner-error');
  await error.filter({ hasText: 'decoder exploded (stub)' }).waitFor();
  assert.match(await st.textContent(), /prediction failed: decoder exploded \(stub\) — the prompt was taken back/);
  assert.match(await prompts.textContent(), /1 \+, 0 −/);
  assert.equal(await page.evaluate(() => window.samkit.viewer.points.length), 1, 'the failed point is not drawn');
  assert.equal(await page.evaluate(() => window.samkit.maskArea), 10800);
  assert.equal(await spinner.isVisible(), false);
  await painted(page);
  await screenshot(page, 'item8-failed-retry');
  await error.getByTestId('toast-retry').click();
  await st.filter({ hasText: 'mask: 7,200 px' }).waitFor();
  await error.waitFor({ state: 'hidden' });
  await prompts.filter({ hasText: /1 \+, 1 − · \d+ ms \(decoder 30 ms\)/ }).waitFor(); // timed at the next frame
  assert.equal(requests.length, 3);
  assert.deepEqual(requests[2].points.map((p) => p.label), ['positive', 'negative']);

  // 3. Undo: the timing label is the one of the mask shown again; none once empty.
  await page.keyboard.press('Control+z');
  await st.filter({ hasText: 'mask: 10,800 px' }).waitFor();
  assert.match(await prompts.textContent(), /\(decoder 10 ms\)/);
  await page.keyboard.press('Control+z');
  await page.waitForFunction(() => window.samkit.maskArea === 0);
  assert.equal(await prompts.textContent(), '');
  assert.equal(await page.getByTestId('undo').isDisabled(), true, 'the failed attempt left no undo step');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('labels and small things: "predicted IoU", hide-all leaves a trace in the list, delete says Undo restores it, export and import told apart', async () => {
  const image = await flatImage();
  const page = await openAs('mira', image.id, { width: 1440, height: 900 });
  await stubPredict(page, W, H, [300, 190, 420, 280]);
  const rows = page.getByTestId('instance-item');
  await rows.first().waitFor();
  const n = await rows.count();

  // The score is named for what it is, everywhere it is shown.
  await clickAt(page, 360, 235);
  await page.getByTestId('mask-status').filter({ hasText: 'predicted IoU 0.91' }).waitFor();
  const bareIoU = (text) => /IoU/.test(text.replace(/predicted IoU/g, ''));
  assert.equal(bareIoU(await page.locator('.statusbar').textContent()), false, 'no bare "IoU" in the status bar');
  assert.equal(bareIoU(await page.getByTestId('auto-panel').textContent()), false, 'no bare "IoU" in the segment-everything panel');
  await page.keyboard.press('Escape');

  // H: the list says everything is hidden and dims the rows; its marker shows them again.
  const marker = page.getByTestId('instances-hidden-all');
  assert.equal(await marker.isVisible(), false);
  await page.keyboard.press('h');
  await marker.waitFor();
  assert.equal(await page.locator('[data-testid="instance-item"].dimmed').count(), n, 'every row dimmed');
  await screenshot(page, 'item11-hidden-all');
  await marker.click();
  await marker.waitFor({ state: 'hidden' });
  assert.equal(await page.locator('[data-testid="instance-item"].dimmed').count(), 0);

  // Delete: no confirmation, a toast says Undo (Ctrl+Z) restores it, with an Undo button.
  const last = rows.last();
  const id = Number(await last.getAttribute('data-id'));
  const cat = await last.getAttribute('data-category');
  await last.getByTestId('instance-delete').click();
  const info = page.getByTestId('banner-info');
  await info.filter({ hasText: `Deleted ${cat} #${id} — Undo (Ctrl+Z) restores it` }).waitFor();
  await page.locator(`[data-testid="instance-item"][data-id="${id}"]`).waitFor({ state: 'detached' });
  await screenshot(page, 'item11-deleted-toast');
  await info.getByTestId('toast-undo').click();
  await page.locator(`[data-testid="instance-item"][data-id="${id}"]`).waitFor();
  const live = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances.map((i) => i.id);
  assert.ok(live.includes(id), 'the toast\'s Undo restored it');

  // Export and import: each control group has its own caption, icon and colour.
  assert.equal((await page.locator('label[for="export-format"]').textContent()).trim(), 'Export as');
  assert.equal((await page.locator('label[for="import-format"]').textContent()).trim(), 'Import from');
  assert.match(await page.getByTestId('export-button').textContent(), /⬇ Export/);
  assert.match(await page.getByTestId('import-button').textContent(), /⬆ Import/);
  const bg = (sel) => page.locator(sel).evaluate((el) => getComputedStyle(el).backgroundColor);
  assert.notEqual(await bg('.menu.export'), await bg('.menu.import'), 'the two groups look different');
  await page.locator('.topbar').screenshot({ path: path.join(ARTIFACTS, 'item11-export-import.png') });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
