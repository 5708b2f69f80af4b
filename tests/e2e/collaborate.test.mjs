// End-to-end: two annotators (two browser contexts) edit the same instance. The stale
// write is refused with a visible conflict message and nothing is lost. Also: missing
// image on disk, skipped files, and network errors are shown, never silent.
// Needs no model: instances are created through the API with synthetic masks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeProject, startServer, launchBrowser, newPage, screenshot, api, tearDown } from './support/harness.mjs';
import { encodeRle } from '../../crates/samkit-server/ui/rle.js';

const IMAGE = 'chelsea.png';
let server, browser, project;

before(async () => {
  project = makeProject('collab');
  server = await startServer(project.dir, { waitModel: false, extraArgs: ['--no-model'] });
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'collab' }));

function rectRle(w, h, [x0, y0, x1, y1]) {
  const m = new Uint8Array(w * h);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * w + x] = 1;
  return encodeRle(m, w, h);
}

// poll=0: no background refresh from the history log, so a page stays stale on purpose.
async function openAs(user, imageId, poll = 0) {
  const page = await newPage(browser, { user });
  await page.goto(`${server.url}/?poll=${poll}#image=${imageId}`);
  await page.waitForFunction(() => window.samkit?.ready);
  return page;
}

const item = (page, id) => page.locator(`[data-testid="instance-item"][data-id="${id}"]`);

test('two annotators: the stale write gets a conflict message, no lost update', async (t) => {
  const { images } = await api(server.url, 'GET', '/api/images');
  const image = images.find((i) => i.name === IMAGE);
  const cat = await api(server.url, 'POST', '/api/categories', { name: 'cat' });
  const eye = await api(server.url, 'POST', '/api/categories', { name: 'eye' });
  const inst = await api(server.url, 'POST', `/api/images/${image.id}/instances`, {
    rle: rectRle(image.width, image.height, [120, 80, 220, 160]),
    prompts: { points: [], box: null },
    client_id: 'e2e-collab-1',
  }, 'setup');
  assert.equal(inst.version, 1);

  const alice = await openAs('alice', image.id);
  const bob = await openAs('bob', image.id);
  await item(alice, inst.id).waitFor();
  await item(bob, inst.id).waitFor();

  // Alice relabels the instance to "cat" (version 1 -> 2).
  await item(alice, inst.id).getByTestId('instance-category').selectOption(String(cat.id));
  await alice.locator(`[data-testid="instance-item"][data-id="${inst.id}"][data-category="cat"]`).waitFor();
  let cur = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances[0];
  assert.equal(cur.version, 2);
  assert.equal(cur.updated_by, 'alice');

  // Bob still shows version 1 and deletes it: refused, with a clear message.
  assert.equal(await item(bob, inst.id).getAttribute('data-version'), '1');
  await item(bob, inst.id).getByTestId('instance-delete').click();
  const banner = bob.getByTestId('banner-conflict');
  await banner.waitFor();
  const msg = await banner.textContent();
  t.diagnostic(`bob sees: ${msg}`);
  assert.match(msg, /changed by alice/);
  assert.match(msg, /reload/i);
  // ...and Bob's list is reloaded: the instance is still there, with Alice's label.
  await bob.locator(`[data-testid="instance-item"][data-id="${inst.id}"][data-category="cat"][data-version="2"]`).waitFor();
  await screenshot(bob, '10-conflict-bob');
  cur = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances;
  assert.equal(cur.length, 1, 'the stale delete did not go through');
  assert.equal(cur[0].category_id, cat.id, "Alice's change is kept");

  // Bob, now current, relabels to "eye" (2 -> 3); Alice's stale delete is refused in turn.
  await item(bob, inst.id).getByTestId('instance-category').selectOption(String(eye.id));
  await bob.locator(`[data-testid="instance-item"][data-id="${inst.id}"][data-version="3"]`).waitFor();
  await item(alice, inst.id).getByTestId('instance-delete').click();
  await alice.getByTestId('banner-conflict').filter({ hasText: /changed by bob/ }).waitFor();
  await alice.locator(`[data-testid="instance-item"][data-id="${inst.id}"][data-category="eye"]`).waitFor();
  cur = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances;
  assert.equal(cur.length, 1);
  assert.equal(cur[0].category_id, eye.id);
  assert.equal(cur[0].version, 3);

  // History has every change, by author.
  const hist = await api(server.url, 'GET', `/api/history?entity=instance&entity_id=${inst.id}`);
  const authors = hist.entries.map((e) => e.author);
  assert.ok(authors.includes('alice') && authors.includes('bob'), `history authors: ${authors}`);
  assert.deepEqual(alice.errors, []);
  assert.deepEqual(bob.errors, []);
  await alice.context().close();
  await bob.context().close();

  // With the default background refresh, a third annotator sees others' changes appear.
  const carol = await openAs('carol', image.id, 300);
  await carol.locator(`[data-testid="instance-item"][data-id="${inst.id}"][data-category="eye"]`).waitFor();
  await api(server.url, 'PATCH', `/api/instances/${inst.id}`, { version: 3, category_id: cat.id }, 'erin');
  await carol.locator(`[data-testid="instance-item"][data-id="${inst.id}"][data-category="cat"]`).waitFor({ timeout: 10000 });
  await carol.getByTestId('banner-info').filter({ hasText: /erin changed/ }).waitFor();
  await carol.context().close();
});

test('several candidate masks: cycle with C / Tab through the multimask and single-mask ones with their predicted IoU, accept the one shown (predict answer stubbed)', async () => {
  const { images } = await api(server.url, 'GET', '/api/images');
  const image = images.find((i) => i.name === 'astronaut.png');
  const { width: w, height: h } = image;
  // The native decoder's answer to one click: its selection (multimask output 2) first,
  // then multimask 1, the single-mask output (token 0) and multimask 3.
  const boxes = [[100, 100, 200, 200], [80, 80, 260, 260], [120, 120, 160, 160], [90, 90, 210, 210]];
  const tokens = [2, 1, 0, 3];
  const requests = [];
  const page = await openAs('hana', image.id);
  // This server runs without a model; stub the decoder's answer (4 candidates) in the browser.
  await page.route('**/api/images/*/predict', async (route) => {
    const body = route.request().postDataJSON();
    requests.push(body);
    const n = requests.length;
    if (n === 3) await new Promise((r) => setTimeout(r, 1000)); // a slow answer, undone before it arrives
    await route.fulfill({
      contentType: 'application/json',
      body: JSON.stringify({
        token: `stub-${n}`,
        decode_ms: 1,
        wait_ms: 0,
        candidates: (n === 1 ? boxes : n === 3 ? [[100, 100, 150, 200]] : [[100, 100, 180, 200]]).map((b, i) => ({
          rle: rectRle(w, h, b), iou: 0.9 - i * 0.1, token: n === 1 ? tokens[i] : 0, stability: 0.95,
          area: (b[2] - b[0]) * (b[3] - b[1]), bbox: [b[0], b[1], b[2] - b[0], b[3] - b[1]],
        })),
      }),
    });
  });
  const click = async (x, y, opts) => {
    const p = await page.evaluate(([a, b]) => window.samkit.toClient(a, b), [x, y]);
    await page.mouse.click(p.x, p.y, opts);
  };
  const st = page.getByTestId('mask-status');
  const cyc = page.getByTestId('candidate-cycle');
  await click(150, 150);
  await st.filter({ hasText: 'mask: 10,000 px' }).waitFor();
  assert.equal(await cyc.textContent(), 'mask 1/4');
  // Each candidate shows SAM's predicted IoU, named as such, and which output it is.
  assert.equal(await st.textContent(), 'mask: 10,000 px, predicted IoU 0.90 (candidate 1/4: multimask output 2)');
  assert.match(await cyc.getAttribute('title'), /predicted IoU: ▸0\.90, 0\.80, 0\.70, 0\.60/);
  await page.keyboard.press('c');
  await st.filter({ hasText: 'mask: 32,400 px' }).waitFor();
  assert.equal(await cyc.textContent(), 'mask 2/4');
  assert.equal(await st.textContent(), 'mask: 32,400 px, predicted IoU 0.80 (candidate 2/4: multimask output 1)');
  await page.keyboard.press('Tab');
  await st.filter({ hasText: 'mask: 1,600 px, predicted IoU 0.70 (candidate 3/4: single-mask output)' }).waitFor();
  await page.keyboard.press('c');
  await st.filter({ hasText: 'mask: 14,400 px, predicted IoU 0.60 (candidate 4/4: multimask output 3)' }).waitFor();
  await page.keyboard.press('c'); // wraps around to the selection
  await st.filter({ hasText: 'mask: 10,000 px, predicted IoU 0.90 (candidate 1/4' }).waitFor();
  await page.keyboard.press('Shift+C'); // and back
  await st.filter({ hasText: 'mask: 14,400 px' }).waitFor();
  await page.keyboard.press('Shift+C');
  await page.keyboard.press('Shift+C');
  await st.filter({ hasText: 'mask: 32,400 px' }).waitFor();
  await screenshot(page, '15-candidates');
  // A refinement click sends the token and the candidate shown, as a single-mask request.
  await click(190, 150, { button: 'right' });
  await st.filter({ hasText: 'mask: 8,000 px' }).waitFor();
  assert.equal(requests[0].points.length, 1);
  assert.equal(requests[0].points[0].label, 'positive');
  assert.ok(Math.abs(requests[0].points[0].x - 150) < 1 && Math.abs(requests[0].points[0].y - 150) < 1, JSON.stringify(requests[0].points));
  assert.equal(requests[0].prev, undefined);
  assert.deepEqual(requests[1].prev, { token: 'stub-1', candidate: 1 });
  assert.equal(requests[1].points[1].label, 'negative');
  assert.equal(requests[1].multimask, false);
  // Undo while a prediction is in flight: the late answer is dropped, nothing stays "predicting".
  await click(120, 190, { button: 'right' });
  await st.filter({ hasText: /predicting|encoding image/ }).waitFor();
  await page.keyboard.press('Control+z');
  await st.filter({ hasText: 'mask: 8,000 px' }).waitFor();
  await page.waitForTimeout(1300);
  assert.equal(requests.length, 3);
  assert.match(await st.textContent(), /^mask: 8,000 px/, 'the late answer did not replace the mask');
  assert.equal(await page.getByTestId('prompt-status').textContent().then((t) => /1 \+, 1 −/.test(t)), true);
  // Undo the refinement: candidate 2/4 is back; accept it.
  await page.keyboard.press('Control+z');
  await st.filter({ hasText: 'mask: 32,400 px' }).waitFor();
  await page.keyboard.press('Enter');
  await page.getByTestId('instance-item').first().waitFor();
  const stored = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances;
  assert.equal(stored.length, 1);
  assert.equal(stored[0].area, 32400, 'the candidate on screen is the one saved');
  assert.equal(stored[0].author, 'hana');

  // Instance list: hide/show, opacity, delete + undo (restore) + redo (delete again).
  const row = page.getByTestId('instance-item').first();
  await row.getByTestId('instance-visibility').click();
  await page.locator('[data-testid="instance-item"].hidden').waitFor();
  await row.getByTestId('instance-visibility').click();
  await page.locator('[data-testid="instance-item"]:not(.hidden)').waitFor();
  await page.getByTestId('opacity').fill('0.9');
  assert.equal(await page.evaluate(() => window.samkit.viewer.opacity), 0.9);
  await row.getByTestId('instance-delete').click();
  await page.getByTestId('instance-item').waitFor({ state: 'detached' });
  const live = async () => (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances.length;
  assert.equal(await live(), 0);
  await page.keyboard.press('Control+z');
  await page.getByTestId('instance-item').waitFor();
  assert.equal(await live(), 1, 'undo of delete restores the instance');
  await page.keyboard.press('Control+Shift+z');
  await page.getByTestId('instance-item').waitFor({ state: 'detached' });
  assert.equal(await live(), 0, 'redo deletes it again');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('skipped files and an image deleted from disk are shown clearly', async () => {
  const page = await openAs('carol', '');
  await page.getByTestId('skipped-files').filter({ hasText: 'notes.txt' }).waitFor({ state: 'attached' });
  fs.rmSync(path.join(project.dir, 'rocket.jpg'));
  await api(server.url, 'POST', '/api/rescan', {});
  const { images } = await api(server.url, 'GET', '/api/images');
  const rocket = images.find((i) => i.name === 'rocket.jpg');
  assert.equal(rocket.missing, true);
  await page.goto(`${server.url}/#image=${rocket.id}`);
  await page.reload();
  await page.getByTestId('stage-message').filter({ hasText: /missing on disk/ }).waitFor();
  await page.locator(`[data-testid="image-item"][data-id="${rocket.id}"][data-status="missing"]`).waitFor();
  assert.equal(await page.getByTestId('encoding-state').textContent(), 'image missing');
  await screenshot(page, '11-missing-image');
  await page.context().close();
});

test('guidelines: edited in the side panel, rendered as safe Markdown', async () => {
  const page = await openAs('frank', '');
  await page.getByTestId('guidelines-edit').click();
  await page.getByTestId('guidelines-text').fill('# Rules\n\n- outline **every** cat\n- see [docs](https://example.invalid/x)\n\n<img src=x onerror="window.pwned=1">');
  await page.getByTestId('guidelines-save').click();
  const g = page.getByTestId('guidelines');
  await g.locator('strong', { hasText: 'every' }).waitFor();
  assert.equal(await g.locator('a[href="https://example.invalid/x"]').count(), 1);
  assert.equal(await g.locator('img').count(), 0, 'raw HTML is escaped');
  assert.match(await g.textContent(), /<img src=x/);
  assert.equal(await page.evaluate(() => window.pwned), undefined);
  const project = await api(server.url, 'GET', '/api/project');
  assert.match(project.guidelines, /outline \*\*every\*\* cat/);
  await page.reload();
  await page.getByTestId('guidelines').locator('strong', { hasText: 'every' }).waitFor();
  await screenshot(page, '13-guidelines');
  await page.context().close();
});

test('import a COCO file through the import control', async () => {
  const { images } = await api(server.url, 'GET', '/api/images');
  const image = images.find((i) => i.name === 'coffee.png');
  const coco = {
    images: [{ id: 7, file_name: 'coffee.png', width: image.width, height: image.height }],
    categories: [{ id: 3, name: 'imported-spoon' }],
    annotations: [{
      id: 1, image_id: 7, category_id: 3, iscrowd: 0,
      segmentation: rectRle(image.width, image.height, [330, 230, 410, 330]),
      area: 80 * 100, bbox: [330, 230, 80, 100],
    }],
  };
  const file = path.join(project.base, 'import-coco.json');
  fs.writeFileSync(file, JSON.stringify(coco));
  const page = await openAs('gina', image.id);
  await page.getByTestId('import-format').selectOption('coco');
  await page.getByTestId('import-file').setInputFiles(file);
  const info = page.getByTestId('banner-info');
  await info.filter({ hasText: /Imported 1 instance into 1 image, 1 new category/ }).waitFor();
  await page.locator('[data-testid="instance-item"][data-category="imported-spoon"]').waitFor();
  await page.getByTestId('category-select').locator('option', { hasText: 'imported-spoon' }).waitFor({ state: 'attached' });
  await screenshot(page, '14-imported');
  const stored = (await api(server.url, 'GET', `/api/images/${image.id}/instances`)).instances;
  assert.equal(stored.length, 1);
  assert.equal(stored[0].area, 8000);
  assert.equal(stored[0].author, 'gina');
  await page.context().close();
});

test('network errors are shown, never silent', async () => {
  const { images } = await api(server.url, 'GET', '/api/images');
  const image = images.find((i) => i.name === IMAGE);
  const page = await openAs('dave', image.id);
  await server.stop();
  await page.getByTestId('image-status').selectOption('done');
  const banner = page.getByTestId('banner-error');
  await banner.waitFor();
  assert.match(await banner.textContent(), /network error/i);
  await screenshot(page, '12-network-error');
  await page.context().close();
});
