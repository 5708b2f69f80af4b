// End-to-end (issue 13): a volume in the web app. A CT-like NIfTI written by nibabel (a
// disc of 700 HU on soft tissue at 40 HU, moving 3 px per slice) is listed slice by slice;
// the volume bar moves through the slices (↑/↓ and the slider), sets the window (a preset,
// then a drag with the Window tool; the server stores it for the volume and re-encodes),
// and Propagate carries a mask accepted on the middle slice to every other slice, each
// within IoU 0.9 of the truth. Real model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeProject, startServer, launchBrowser, newPage, screenshot, api, clickImage, tearDown } from './support/harness.mjs';
import { decodeRle } from '../../crates/samkit-server/ui/rle.js';

const N = 96;
const DEPTH = 7;
const MID = 3;
const cx = (z) => 30 + 3 * z;
let server, browser, project;

before(async () => {
  project = makeProject('volume', { samples: false });
  execFileSync('python3', ['-c', `
import sys
import numpy as np, nibabel as nib
rng = np.random.default_rng(3)
i, j, k = np.meshgrid(np.arange(${N}), np.arange(${N}), np.arange(${DEPTH}), indexing="ij")
vol = 40.0 + rng.normal(0, 15, i.shape)
disc = np.hypot(i - (30 + 3 * k), j - 48) < 14
vol[disc] = 700.0 + rng.normal(0, 15, int(disc.sum()))
nib.save(nib.Nifti1Image(vol.astype(np.float32), np.diag([0.7, 0.7, 2.5, 1.0])), sys.argv[1])
`, path.join(project.dir, 'ct.nii.gz')]);
  server = await startServer(project.dir);
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'volume' }));

const truth = (z) => {
  const m = new Uint8Array(N * N);
  for (let y = 0; y < N; y++) for (let x = 0; x < N; x++) m[y * N + x] = Math.hypot(x - cx(z), y - 48) < 14 ? 1 : 0;
  return m;
};
const iou = (a, b) => {
  let i = 0;
  let u = 0;
  for (let p = 0; p < a.length; p++) {
    i += a[p] & b[p];
    u += a[p] | b[p];
  }
  return i / u;
};

test('volume: slices, window (preset and drag, re-encoded), propagation to every slice', async () => {
  const images = (await api(server.url, 'GET', '/api/images')).images;
  assert.deepEqual(images.map((i) => i.name), [...Array(DEPTH).keys()].map((z) => `ct.nii.gz#z=${z}`));
  const byZ = (z) => images.find((i) => i.name === `ct.nii.gz#z=${z}`);
  const page = await newPage(browser, { user: 'rad', viewport: { width: 1440, height: 900 } });
  await page.goto(`${server.url}/?poll=0#image=${byZ(MID).id}`);
  await page.waitForFunction(() => window.samkit?.ready);
  await page.getByTestId('window-controls').waitFor();
  assert.equal(await page.getByTestId('slice-label').textContent(), `slice ${MID + 1} / ${DEPTH}`);
  const shownName = () => page.evaluate(() => window.samkit.state.image.name);

  // Slices: ↓ next, ↑ previous, the slider jumps.
  await page.getByTestId('canvas').focus();
  await page.keyboard.press('ArrowDown');
  await page.waitForFunction(() => window.samkit.state.image.name.endsWith('#z=4') && window.samkit.ready);
  assert.equal(await page.getByTestId('slice-slider').inputValue(), '4');
  await page.keyboard.press('ArrowUp');
  await page.keyboard.press('ArrowUp');
  await page.waitForFunction(() => window.samkit.state.image.name.endsWith('#z=2') && window.samkit.ready);
  await page.getByTestId('slice-slider').fill('6');
  await page.waitForFunction(() => window.samkit.state.image.name.endsWith('#z=6') && window.samkit.ready);
  await page.getByTestId('slice-slider').fill(String(MID));
  await page.waitForFunction((z) => window.samkit.state.image.name.endsWith(`#z=${z}`) && window.samkit.ready, MID);
  assert.equal(await shownName(), `ct.nii.gz#z=${MID}`);

  // Window: the bone preset is stored for the whole volume.
  await page.getByTestId('window-preset').selectOption('bone');
  await page.waitForFunction(() => document.querySelector('[data-testid="window-value"]').textContent === 'C 400 W 1800');
  let w = await api(server.url, 'GET', `/api/images/${byZ(0).id}/window`);
  assert.deepEqual([w.center, w.width, w.chosen], [400, 1800, true]);
  // The list's thumbnails of the volume are loaded again through the new window.
  await page.waitForFunction((n) => [...document.querySelectorAll('[data-testid="image-thumb"]')].filter((i) => i.src.includes('shown=')).length === n, DEPTH);
  // The Window tool: a drag to the right widens it, down raises the level; released, stored.
  await page.keyboard.press('a');
  assert.match(await page.getByTestId('tool-window').getAttribute('class'), /active/);
  const box = await page.getByTestId('canvas').boundingBox();
  const previews = [];
  page.on('request', (r) => r.url().includes('/file?window=') && previews.push(r.url()));
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  await page.mouse.down();
  for (let s = 1; s <= 8; s++) await page.mouse.move(box.x + box.width / 2 + 10 * s, box.y + box.height / 2 + 5 * s, { steps: 2 });
  await page.mouse.up();
  await page.waitForFunction(() => !/W 1800$/.test(document.querySelector('[data-testid="window-value"]').textContent));
  await page.waitForFunction(async (id) => (await (await fetch(`/api/images/${id}/window`)).json()).width > 1800, byZ(MID).id);
  w = await api(server.url, 'GET', `/api/images/${byZ(MID).id}/window`);
  assert.ok(w.width > 1800 && w.center > 400, JSON.stringify(w));
  assert.equal(await page.getByTestId('window-value').textContent(), `C ${Math.round(w.center)} W ${Math.round(w.width)}`);
  assert.ok(previews.length >= 1, 'the drag previewed the window');
  // Back to a soft-tissue window for segmenting; the slice is encoded again.
  await page.getByTestId('window-preset').selectOption('soft');
  await page.waitForFunction(() => document.querySelector('[data-testid="window-value"]').textContent === 'C 40 W 400');
  await page.keyboard.press('v');

  // A mask on the middle slice: one click on the disc, accepted.
  await clickImage(page, cx(MID), 48);
  await page.waitForFunction(() => window.samkit.maskArea > 0, null, { timeout: 60000 });
  await page.keyboard.press('Enter');
  await page.getByTestId('instance-item').first().waitFor();

  // Propagate both ways: every other slice gets its mask, each shown as it comes.
  await page.getByTestId('propagate').click();
  await page.waitForFunction(() => /^propagated to/.test(document.querySelector('[data-testid="propagate-status"]').textContent), null, { timeout: 180000 });
  const status = await page.getByTestId('propagate-status').textContent();
  assert.match(status, new RegExp(`^propagated to ${DEPTH - 1} slice`), status);
  for (let z = 0; z < DEPTH; z++) {
    const list = (await api(server.url, 'GET', `/api/images/${byZ(z).id}/instances`)).instances;
    assert.equal(list.length, 1, `slice ${z}: ${list.length} instances`);
    const got = decodeRle(list[0].rle);
    const score = iou(got, truth(z));
    assert.ok(score >= 0.9, `slice ${z}: IoU with the disc ${score.toFixed(3)}`);
    if (z !== MID) assert.ok(list[0].prompts.propagated_from, JSON.stringify(list[0].prompts));
  }
  await screenshot(page, 'volume-propagated');
});
