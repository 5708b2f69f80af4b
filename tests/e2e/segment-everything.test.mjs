// End-to-end: "Segment everything" in the browser with the real model. The annotator runs
// SAM's automatic mask generator on an image, sees the proposals outlined, accepts one by
// clicking it, dismisses one with a right-click, accepts all the rest, undoes and redoes,
// discards, and finds accepted proposals still accepted after a reload.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { makeProject, startServer, launchBrowser, newPage, screenshot, clickImage, api, tearDown } from './support/harness.mjs';

const IMAGE = 'coffee.png';
let server, browser, project;

before(async () => {
  project = makeProject('everything');
  server = await startServer(project.dir);
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'everything' }));

const panel = (page) => page.getByTestId('auto-status');
const pendingCount = async (page) => Number(await panel(page).getAttribute('data-pending'));
const instanceCount = (page) => page.getByTestId('instance-item').count();

async function waitFor(page, what, pred, timeout = 60000) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    if (await pred()) return;
    await page.waitForTimeout(50);
  }
  const banner = await page.getByTestId('banner-error').isVisible() ? await page.getByTestId('banner-error').textContent() : '';
  await screenshot(page, 'everything-timeout');
  throw new Error(`timed out waiting for ${what}; panel: "${await panel(page).textContent()}"; ` +
    `mask: "${await page.getByTestId('mask-status').textContent()}"; instances: ${await instanceCount(page)}; error: "${banner}"`);
}

/** An image pixel owned by the `k`-th pending proposal (the one a click there takes). */
async function pixelOf(page, k = 0) {
  return page.evaluate((k) => {
    const P = window.samkit.proposals;
    const pend = P.list.map((p, i) => i).filter((i) => P.list[i].state === 'pending');
    const i = pend[k];
    const w = window.samkit.state.image.width;
    // The pixel nearest the middle of the proposal's box whose 5 × 5 neighbourhood it owns
    // (screen rounding at any zoom stays on it).
    const [bx, by, bw, bh] = P.list[i].bbox;
    const h = window.samkit.state.image.height;
    const owned = (x, y) => x >= 0 && y >= 0 && x < w && y < h && P.owner[y * w + x] === i;
    const interior = (x, y) => {
      for (let dy = -2; dy <= 2; dy++) for (let dx = -2; dx <= 2; dx++) if (!owned(x + dx, y + dy)) return false;
      return true;
    };
    let best = null;
    for (let y = by; y <= by + bh; y++) {
      for (let x = bx; x <= bx + bw; x++) {
        if (!interior(x, y)) continue;
        const d = (x - bx - bw / 2) ** 2 + (y - by - bh / 2) ** 2;
        if (!best || d < best.d) best = { x: x + 0.5, y: y + 0.5, d };
      }
    }
    return { index: P.list[i].index, x: best.x, y: best.y, rle: P.list[i].rle, iou: P.list[i].predicted_iou };
  }, k);
}

test('segment everything: run, accept by click, dismiss, accept all, undo, discard, reload', async (t) => {
  const images = (await api(server.url, 'GET', '/api/images')).images;
  const image = images.find((i) => i.name === IMAGE);
  const page = await newPage(browser, { user: 'carol' });
  await page.goto(`${server.url}/#image=${image.id}`);
  await page.waitForFunction(() => window.samkit?.ready);
  await page.getByTestId('encoding-state').filter({ hasText: 'image encoded' }).waitFor({ timeout: 120000 });

  // Bad parameters are refused with the field named.
  await page.getByTestId('auto-points').fill('0');
  await page.getByTestId('auto-run').click();
  await page.getByTestId('banner-error').filter({ hasText: 'points_per_side' }).waitFor();
  await page.getByTestId('banner-error').locator('[data-action="dismiss"]').click();

  // Run with a 12 × 12 grid: progress, then outlined proposals.
  await page.getByTestId('auto-points').fill('12');
  await page.getByTestId('auto-run').click();
  await waitFor(page, 'the job to finish', async () => (await panel(page).getAttribute('data-state')) === 'done', 180000);
  const job = (await api(server.url, 'GET', `/api/images/${image.id}/auto?brief=true`)).job;
  assert.equal(job.points_total, 144);
  assert.equal(job.points_done, 144);
  const n = await pendingCount(page);
  t.diagnostic(`${n} proposals in ${job.seconds.toFixed(1)} s: "${await panel(page).textContent()}"`);
  assert.ok(n >= 3, `at least 3 proposals on ${IMAGE}, got ${n}`);
  assert.equal(job.proposal_count, n);
  await screenshot(page, '20-proposals');

  // Hover fills the proposal under the pointer; a click accepts it as the current category.
  const first = await pixelOf(page, 0);
  const hoverAt = await page.evaluate(([x, y]) => window.samkit.toClient(x, y), [first.x, first.y]);
  await page.mouse.move(hoverAt.x, hoverAt.y);
  await page.waitForFunction(() => window.samkit.proposals.hover >= 0);
  await screenshot(page, '21-proposal-hover');
  await clickImage(page, first.x, first.y);
  await waitFor(page, 'the accepted proposal', async () => (await instanceCount(page)) === 1);
  assert.equal(await pendingCount(page), n - 1);
  let stored = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances;
  assert.equal(stored.length, 1);
  assert.deepEqual(stored[0].rle, first.rle, 'the instance is the proposal mask');
  assert.equal(stored[0].author, 'carol');
  assert.equal(stored[0].prompts.auto.job, job.id);
  assert.equal(stored[0].prompts.auto.index, first.index);
  assert.ok(Math.abs(stored[0].score - first.iou) < 1e-6, 'score = predicted IoU');
  // No prompt was started by that click.
  assert.match(await page.getByTestId('mask-status').textContent(), /no mask/);

  // Undo / redo of the accept.
  await page.getByTestId('canvas').focus();
  await page.keyboard.press('Control+z');
  await waitFor(page, 'undo of the accept', async () => (await instanceCount(page)) === 0 && (await pendingCount(page)) === n);
  await page.keyboard.press('Control+Shift+z');
  await waitFor(page, 'redo of the accept', async () => (await instanceCount(page)) === 1 && (await pendingCount(page)) === n - 1);

  // Right-click dismisses one proposal (no instance, no prompt).
  const second = await pixelOf(page, 0);
  await clickImage(page, second.x, second.y, { button: 'right' });
  await waitFor(page, 'the dismissed proposal', async () => (await pendingCount(page)) === n - 2);
  assert.equal(await instanceCount(page), 1);
  assert.match(await page.getByTestId('mask-status').textContent(), /no mask/);

  // Accept all: every pending proposal becomes an instance; one undo takes them all back.
  await page.getByTestId('auto-accept-all').click();
  await waitFor(page, 'accept all', async () => (await instanceCount(page)) === n - 1 && (await pendingCount(page)) === 0, 60000);
  await screenshot(page, '22-accepted-all');
  stored = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances;
  assert.equal(stored.length, n - 1);
  const hist = await api(server.url, 'GET', `/api/history?image_id=${image.id}`);
  const creates = hist.entries.filter((e) => e.entity === 'instance' && e.author === 'carol' && /create/.test(e.action));
  t.diagnostic(`history: ${creates.length} create entries by carol`);
  assert.ok(creates.length >= n - 1, 'every accept is in the history');
  await page.getByTestId('canvas').focus();
  await page.keyboard.press('Control+z');
  await waitFor(page, 'undo of accept all', async () => (await instanceCount(page)) === 1 && (await pendingCount(page)) === n - 2, 60000);

  // Discard drops the proposals (and the server's job); undo brings them back.
  await page.getByTestId('auto-discard').click();
  await waitFor(page, 'discard', async () => (await pendingCount(page)) === 0);
  await assert.rejects(api(server.url, 'GET', `/api/images/${image.id}/auto`), (e) => e.status === 404);
  await page.keyboard.press('Control+z');
  await waitFor(page, 'undo of discard', async () => (await pendingCount(page)) === n - 2);

  // A new run; one accepted; after a reload the job's proposals come back, that one taken.
  await page.getByTestId('auto-points').fill('6');
  await page.getByTestId('auto-run').click();
  await waitFor(page, 'the second job', async () => (await panel(page).getAttribute('data-state')) === 'done', 120000);
  const m = await pendingCount(page);
  assert.ok(m >= 1, `${m} proposals on a 6 × 6 grid`);
  const third = await pixelOf(page, 0);
  await clickImage(page, third.x, third.y);
  await waitFor(page, 'the accept', async () => (await instanceCount(page)) === 2);
  await page.reload();
  await page.waitForFunction(() => window.samkit?.ready);
  await waitFor(page, 'proposals after reload', async () => (await panel(page).getAttribute('data-state')) === 'done' && (await pendingCount(page)) === m - 1);
  assert.equal(await instanceCount(page), 2);
  await screenshot(page, '23-after-reload');
  assert.deepEqual(page.errors, [], 'no uncaught page errors');
  assert.deepEqual(page.external, [], 'no request leaves the machine');
});
