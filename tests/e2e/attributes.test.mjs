// End-to-end (issue 15, item 12): instance attributes. The attributes panel edits the
// crowd flag, `occluded` and free-form name: value pairs of an instance picked by its row;
// Save writes a new version (the API then shows them), names used in the category are
// suggested, a duplicate name is refused before anything is sent, undo restores the
// previous set, and the COCO export carries them (`iscrowd`, `attributes`). No model needed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { makeProject, startServer, launchBrowser, newPage, screenshot, api, solidPng, tearDown } from './support/harness.mjs';
import { encodeRle } from '../../crates/samkit-server/ui/rle.js';

const W = 320;
const H = 240;
let server, browser, project;

before(async () => {
  project = makeProject('attributes');
  fs.writeFileSync(path.join(project.dir, 'cups.png'), solidPng(W, H, [128, 128, 128], [[40, 40, 140, 200, [220, 20, 20]], [180, 60, 300, 180, [20, 20, 220]]]));
  server = await startServer(project.dir, { waitModel: false, extraArgs: ['--no-model'] });
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'attributes' }));

function rectRle([x0, y0, x1, y1]) {
  const m = new Uint8Array(W * H);
  for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) m[y * W + x] = 1;
  return encodeRle(m, W, H);
}

test('attributes: set on an instance, suggested in its category, undone, exported to COCO', async () => {
  const image = (await api(server.url, 'GET', '/api/images')).images.find((i) => i.name === 'cups.png');
  const first = await api(server.url, 'POST', `/api/images/${image.id}/instances`, { rle: rectRle([40, 40, 140, 200]) });
  const second = await api(server.url, 'POST', `/api/images/${image.id}/instances`, { rle: rectRle([180, 60, 300, 180]) });
  const page = await newPage(browser, { user: 'ann', viewport: { width: 1440, height: 900 } });
  await page.goto(`${server.url}/?poll=0#image=${image.id}`);
  await page.waitForFunction(() => window.samkit?.ready);
  await page.getByTestId('instance-item').nth(1).waitFor();

  // Pick the first instance by its row; set crowd, occluded stays off, two pairs.
  await page.locator(`[data-testid="instance-item"][data-id="${first.id}"] .area`).click();
  assert.equal(await page.getByTestId('attr-instance').inputValue(), String(first.id));
  await page.getByTestId('attr-iscrowd').check();
  await page.getByTestId('attr-add').click();
  await page.getByTestId('attr-name').last().fill('colour');
  await page.getByTestId('attr-value').last().fill('red');
  await page.getByTestId('attr-add').click();
  await page.getByTestId('attr-name').last().fill('truncation');
  await page.getByTestId('attr-value').last().fill('0.25');
  await page.getByTestId('attr-save').click();
  await page.waitForFunction((id) => document.querySelector(`[data-testid="instance-item"][data-id="${id}"]`)?.dataset.version === '2', first.id);
  let stored = await api(server.url, 'GET', `/api/instances/${first.id}`);
  assert.deepEqual(stored.attributes, { iscrowd: true, colour: 'red', truncation: 0.25 });
  assert.equal(stored.updated_by, 'ann');
  await screenshot(page, 'attributes-1440x900');

  // The second instance (same category) is offered the names the first one uses.
  await page.getByTestId('attr-instance').selectOption(String(second.id));
  assert.equal(await page.getByTestId('attr-iscrowd').isChecked(), false);
  const suggested = await page.locator('#attr-suggestions option').evaluateAll((os) => os.map((o) => o.value));
  assert.deepEqual(suggested.sort(), ['colour', 'truncation']);

  // Two rows with one name: refused in the page, nothing sent.
  await page.getByTestId('attr-add').click();
  await page.getByTestId('attr-name').last().fill('colour');
  await page.getByTestId('attr-value').last().fill('blue');
  await page.getByTestId('attr-add').click();
  await page.getByTestId('attr-name').last().fill('colour');
  await page.getByTestId('attr-value').last().fill('green');
  await page.getByTestId('attr-save').click();
  await page.getByText('"colour" is given twice').waitFor();
  assert.deepEqual((await api(server.url, 'GET', `/api/instances/${second.id}`)).attributes, {});

  // Undo (Ctrl+Z on the canvas) restores the first instance's previous set; redo again.
  await page.getByTestId('canvas').click({ position: { x: 5, y: 5 }, modifiers: [] }).catch(() => {});
  await page.keyboard.press('Escape');
  await page.keyboard.press('Control+z');
  await page.waitForFunction((id) => document.querySelector(`[data-testid="instance-item"][data-id="${id}"]`)?.dataset.version === '3', first.id);
  assert.deepEqual((await api(server.url, 'GET', `/api/instances/${first.id}`)).attributes, {});
  await page.keyboard.press('Control+Shift+z');
  await page.waitForFunction((id) => document.querySelector(`[data-testid="instance-item"][data-id="${id}"]`)?.dataset.version === '4', first.id);

  // COCO: iscrowd 1 and the other attributes.
  const coco = await api(server.url, 'GET', '/api/export?format=coco');
  const ann = coco.annotations.find((a) => a.id === first.id);
  assert.equal(ann.iscrowd, 1);
  assert.deepEqual(ann.attributes, { colour: 'red', truncation: 0.25 });
  assert.equal(coco.annotations.find((a) => a.id === second.id).attributes, undefined);
  await page.close();
});
