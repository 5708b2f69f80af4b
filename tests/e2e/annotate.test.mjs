// End-to-end: real `samkit serve` + real headless Chromium.
// One annotator clicks an object, refines it, accepts it with a category, undoes/redoes,
// reloads, exports COCO and checks it with pycocotools.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import {
  ARTIFACTS, makeProject, startServer, launchBrowser, newPage, screenshot, clickImage, api, parseArea, tearDown,
} from './support/harness.mjs';

// Prompts on samples/coffee.png (600x400): the saucer (the model returns saucer + cup),
// then a negative click on the cup to cut it out.
const IMAGE = 'coffee.png';
const POSITIVE = [130, 300];
const NEGATIVE = [290, 200];

let server, browser, project;

before(async () => {
  project = makeProject('annotate', { fresh: 3 }); // + 3 never-seen images the server must encode
  server = await startServer(project.dir);
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'annotate' }));

const status = (page) => page.getByTestId('mask-status');
const areaOf = async (page) => parseArea(await status(page).textContent());

async function waitArea(page, pred, what, timeout = 60000) {
  const deadline = Date.now() + timeout;
  let last = '';
  while (Date.now() < deadline) {
    last = await status(page).textContent();
    const a = parseArea(last);
    if (!/predicting/.test(last) && pred(a)) return a;
    await page.waitForTimeout(50);
  }
  throw new Error(`timed out waiting for ${what}; mask status: "${last}"`);
}

test('annotate an object: click, refine, accept, undo/redo, reload, export COCO', async (t) => {
  const images = (await api(server.url, 'GET', '/api/images')).images;
  const image = images.find((i) => i.name === IMAGE);
  assert.ok(image, `${IMAGE} is in the project`);
  const total = image.width * image.height;

  const page = await newPage(browser);
  // Open a never-seen image first: the page must say that it is being encoded.
  const fresh = images.filter((i) => i.name.startsWith('fresh/')).pop();
  await page.goto(`${server.url}/#image=${fresh.id}`);
  await page.getByTestId('user-name').fill('alice');
  await page.getByTestId('user-name').press('Enter'); // change event -> stored in localStorage
  await page.waitForFunction(() => window.samkit?.ready);
  const atOpen = await page.getByTestId('encoding-state').textContent();
  t.diagnostic(`at open: "${atOpen}" | ${await page.getByTestId('encode-progress-text').textContent()}`);
  await screenshot(page, '00-encoding');
  if (/encod|loading model/.test(atOpen)) {
    assert.equal(await page.getByTestId('stage-badge').isVisible(), true, 'encoding badge on the canvas');
  } else {
    t.diagnostic('note: the image was already encoded when the page opened (fast machine)');
  }
  // Clicking before the embedding is ready is fine: the page says it waits, then the mask comes.
  await clickImage(page, fresh.width / 2, fresh.height / 2);
  const waiting = await status(page).textContent();
  t.diagnostic(`click while encoding -> "${waiting}"`);
  await waitArea(page, (a) => a > 0, 'the mask of a click made while the image was encoding', 120000);
  await page.keyboard.press('Escape');
  await waitArea(page, (a) => a === 0, 'Esc to clear the prompts');
  await page.getByTestId('encoding-state').filter({ hasText: 'image encoded' }).waitFor({ timeout: 120000 });
  assert.equal(await page.getByTestId('stage-badge').isVisible(), false);
  await page.getByTestId('encode-progress-text').filter({ hasText: /encoded \d+\/7/ }).waitFor();

  // Then the sample image, from the image list.
  await page.getByTestId('image-list').locator(`[data-id="${image.id}"]`).click();
  await page.getByTestId('image-name').filter({ hasText: IMAGE }).waitFor();
  await page.waitForFunction(() => window.samkit?.ready);
  // Project name, guidelines panel, skipped file and the progress bar are shown.
  assert.match(await page.getByTestId('project-name').textContent(), /annotate/);
  assert.match(await page.getByTestId('skipped-files').textContent(), /notes\.txt/);
  await screenshot(page, '01-opened');

  // Wait until this image is encoded so the prompt->mask timing is the decoder's alone.
  await page.getByTestId('encoding-state').filter({ hasText: 'image encoded' }).waitFor({ timeout: 120000 });

  // 1. Positive click: a mask of plausible size appears; several candidates can be cycled.
  await clickImage(page, ...POSITIVE);
  const a1 = await waitArea(page, (a) => a > 0, 'a mask after the first click');
  t.diagnostic(`first click: ${await status(page).textContent()}`);
  assert.ok(a1 > total * 0.01 && a1 < total * 0.6, `mask area ${a1} px is plausible for ${total} px image`);
  const timing = await page.evaluate(() => window.samkit.timing);
  t.diagnostic(`prompt -> painted mask: ${JSON.stringify(timing)}`);
  assert.ok(timing.client_ms < 100, `RLE decode + paint took ${timing.client_ms} ms`);
  // The native decoder offers its 3 multimask masks and the single-mask one (equal masks
  // once): C cycles through them all, each with its predicted IoU, and back.
  const cycle = page.getByTestId('candidate-cycle');
  const n = Number(/mask 1\/(\d)/.exec(await cycle.textContent())?.[1]);
  assert.ok(n >= 3 && n <= 4, `${n} candidates after one click`);
  const kinds = [];
  for (let k = 2; k <= n + 1; k++) {
    await page.keyboard.press('c');
    const shown = ((k - 1) % n) + 1;
    await cycle.filter({ hasText: `mask ${shown}/${n}` }).waitFor();
    const text = await status(page).textContent();
    assert.match(text, new RegExp(`predicted IoU [01]\\.\\d\\d \\(candidate ${shown}/${n}: (single-mask|multimask) output`), text);
    kinds.push(/single-mask|multimask output \d/.exec(text)[0]);
  }
  assert.ok(kinds.includes('single-mask'), `the single-mask output is offered: ${kinds}`);
  assert.equal(new Set(kinds).size, n, `each output once: ${kinds}`);
  assert.equal(await areaOf(page), a1);
  await screenshot(page, '02-positive-click');

  // 2. Negative click inside the mask: it shrinks.
  await clickImage(page, ...NEGATIVE, { button: 'right' });
  const a2 = await waitArea(page, (a) => a !== a1, 'the mask to change after a negative click');
  t.diagnostic(`after negative click: ${await status(page).textContent()}`);
  assert.ok(a2 < a1 && a2 > 0, `negative click shrinks the mask (${a1} -> ${a2})`);
  assert.match(await page.getByTestId('prompt-status').textContent(), /1 \+, 1 −/);
  await screenshot(page, '03-negative-click');

  // Undo / redo of a prompt.
  await page.keyboard.press('Control+z');
  await waitArea(page, (a) => a === a1, 'undo of the negative click');
  await page.keyboard.press('Control+Shift+z');
  await waitArea(page, (a) => a === a2, 'redo of the negative click');

  // 3. A new category "saucer" (UI: + button, the category manager), selected by its number key.
  await page.getByTestId('add-category').click();
  await page.getByTestId('cm-new-name').fill('saucer');
  await page.getByTestId('cm-new-name').press('Enter');
  await page.getByTestId('category-select').locator('option', { hasText: 'saucer' }).waitFor({ state: 'attached' });
  await page.getByTestId('cm-close').click();
  await page.keyboard.press('1');
  assert.match(await page.getByTestId('category-select').inputValue(), /^\d+$/);
  await page.keyboard.press('2');
  const catId = Number(await page.getByTestId('category-select').inputValue());

  // 4. Accept with Enter: one instance of category "saucer", prompts cleared.
  await page.getByTestId('canvas').focus();
  await page.keyboard.press('Enter');
  const items = page.getByTestId('instance-item');
  await items.first().waitFor();
  assert.equal(await items.count(), 1);
  assert.equal(await items.first().getAttribute('data-category'), 'saucer');
  assert.match(await status(page).textContent(), /no mask/);
  await screenshot(page, '04-accepted');
  let stored = await api(server.url, 'GET', `/api/images/${image.id}/instances`);
  assert.equal(stored.instances.length, 1);
  assert.equal(stored.instances[0].category_id, catId);
  assert.equal(stored.instances[0].area, a2, 'stored area equals the area shown');
  assert.equal(stored.instances[0].author, 'alice', 'X-Samkit-User from the user field');

  // 5. Undo the accept -> instance deleted on the server, mask back; redo -> restored.
  await page.keyboard.press('Control+z');
  await items.first().waitFor({ state: 'detached' });
  await waitArea(page, (a) => a === a2, 'the mask to come back after undoing the accept');
  stored = await api(server.url, 'GET', `/api/images/${image.id}/instances`);
  assert.equal(stored.instances.length, 0, 'undo of accept deletes the instance');
  await page.keyboard.press('Control+Shift+z');
  await items.first().waitFor();
  stored = await api(server.url, 'GET', `/api/images/${image.id}/instances`);
  assert.equal(stored.instances.length, 1, 'redo restores it');
  const instanceId = stored.instances[0].id;

  // 6. Reload: the instance is persisted and drawn.
  await page.reload();
  await page.waitForFunction(() => window.samkit?.ready);
  await items.first().waitFor();
  assert.equal(await items.count(), 1);
  assert.equal(await items.first().getAttribute('data-id'), String(instanceId));
  assert.equal(await items.first().getAttribute('data-category'), 'saucer');
  assert.equal(await page.getByTestId('user-name').inputValue(), 'alice', 'user name kept in localStorage');
  await page.getByTestId('image-list').locator(`[data-id="${image.id}"]`).filter({ hasText: 'in progress' }).waitFor();
  await screenshot(page, '05-reloaded');

  // Help panel.
  await page.keyboard.press('?');
  await page.getByTestId('help-panel').waitFor();
  await screenshot(page, '06-help');
  await page.keyboard.press('Escape');

  // 7. Export COCO through the menu and load it with pycocotools.
  await page.getByTestId('export-format').selectOption('coco');
  const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('export-button').click()]);
  const cocoFile = path.join(ARTIFACTS, 'export-coco.json');
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await download.saveAs(cocoFile);
  const py = spawnSync('python3', ['-c', `
import json, sys
from pycocotools.coco import COCO
from pycocotools import mask as M
c = COCO(sys.argv[1])
img = [i for i in c.dataset['images'] if i['file_name'] == '${IMAGE}'][0]
anns = c.loadAnns(c.getAnnIds(imgIds=[img['id']]))
cats = {k['id']: k['name'] for k in c.loadCats(c.getCatIds())}
m = c.annToMask(anns[0])
print(json.dumps({'n': len(anns), 'cat': cats[anns[0]['category_id']], 'area': int(m.sum()),
                  'shape': list(m.shape), 'images': len(c.dataset['images'])}))
`, cocoFile], { encoding: 'utf8' });
  assert.equal(py.status, 0, `pycocotools failed: ${py.stderr}`);
  const res = JSON.parse(py.stdout.trim().split('\n').pop());
  t.diagnostic(`pycocotools: ${JSON.stringify(res)}`);
  assert.equal(res.n, 1);
  assert.equal(res.cat, 'saucer');
  assert.equal(res.area, a2);
  assert.deepEqual(res.shape, [image.height, image.width]);

  assert.deepEqual(page.errors, [], 'no uncaught page errors');
  assert.deepEqual(page.external, [], 'no request leaves the server (no CDN, no web fonts)');
  assert.equal(await page.getByTestId('banner-error').isVisible(), false, 'no error banner');
});

test('brush and eraser touch up the mask; box prompt; next/previous image', async () => {
  const images = (await api(server.url, 'GET', '/api/images')).images;
  const image = images.find((i) => i.name === IMAGE);
  const page = await newPage(browser, { user: 'alice' });
  await page.goto(`${server.url}/#image=${image.id}`);
  await page.waitForFunction(() => window.samkit?.ready);

  // Box prompt by dragging around the cup.
  const a = await page.evaluate(() => window.samkit.toClient(170, 20));
  const b = await page.evaluate(() => window.samkit.toClient(420, 320));
  await page.mouse.move(a.x, a.y);
  await page.mouse.down();
  await page.mouse.move((a.x + b.x) / 2, (a.y + b.y) / 2, { steps: 4 });
  await page.mouse.move(b.x, b.y, { steps: 4 });
  await page.mouse.up();
  const boxArea = await waitArea(page, (x) => x > 0, 'a mask from the box prompt');
  assert.match(await page.getByTestId('prompt-status').textContent(), /box/);

  // Brush: paint a blob in an empty corner -> area grows; eraser removes it again.
  await page.keyboard.press('b');
  for (let i = 0; i < 3; i++) await page.keyboard.press(']');
  const c = await page.evaluate(() => window.samkit.toClient(30, 370));
  await page.mouse.move(c.x, c.y);
  await page.mouse.down();
  await page.mouse.move(c.x + 20, c.y, { steps: 5 });
  await page.mouse.up();
  const painted = await waitArea(page, (x) => x > boxArea, 'the brush to add pixels');
  assert.match(await status(page).textContent(), /edited by hand/);
  await screenshot(page, '07-brush');
  await page.keyboard.press('e');
  await page.mouse.move(c.x, c.y);
  await page.mouse.down();
  await page.mouse.move(c.x + 20, c.y, { steps: 5 });
  await page.mouse.up();
  await waitArea(page, (x) => x < painted, 'the eraser to remove pixels');
  await page.keyboard.press('Control+z'); // undo eraser stroke
  await waitArea(page, (x) => x === painted, 'undo of the eraser stroke');
  await page.keyboard.press('Escape');
  await waitArea(page, (x) => x === 0, 'Esc to clear');
  await page.keyboard.press('v');

  // Zoom with the wheel around the cursor, pan with space+drag, fit with F.
  const zoom = page.getByTestId('zoom-level');
  const z0 = await zoom.textContent();
  const mid = await page.evaluate(() => window.samkit.toClient(300, 200));
  await page.mouse.move(mid.x, mid.y);
  await page.mouse.wheel(0, -400);
  await page.waitForFunction((z) => document.querySelector('[data-testid="zoom-level"]').textContent !== z, z0);
  const z1 = await zoom.textContent();
  assert.ok(parseInt(z1, 10) > parseInt(z0, 10), `wheel zooms in (${z0} -> ${z1})`);
  const before = await page.evaluate(() => window.samkit.toClient(300, 200));
  assert.ok(Math.hypot(before.x - mid.x, before.y - mid.y) < 2, 'zoom keeps the point under the cursor');
  await page.keyboard.down('Space');
  await page.mouse.down();
  await page.mouse.move(mid.x + 80, mid.y + 30, { steps: 4 });
  await page.mouse.up();
  await page.keyboard.up('Space');
  const panned = await page.evaluate(() => window.samkit.toClient(300, 200));
  assert.ok(Math.abs(panned.x - mid.x - 80) < 2 && Math.abs(panned.y - mid.y - 30) < 2, 'space+drag pans');
  assert.equal(await areaOf(page), 0, 'panning adds no prompt');
  await page.keyboard.press('f');
  await page.waitForFunction((z) => document.querySelector('[data-testid="zoom-level"]').textContent === z, z0);

  // Next / previous image with the keyboard.
  const idx = images.findIndex((i) => i.id === image.id);
  await page.keyboard.press('n');
  await page.getByTestId('image-name').filter({ hasText: images[(idx + 1) % images.length].name }).waitFor();
  await page.keyboard.press('p');
  await page.getByTestId('image-name').filter({ hasText: IMAGE }).waitFor();
  assert.deepEqual(page.errors, []);
  await page.context().close();
});
