// End-to-end (issue 14): zoom-in refinement in the web app. On a 2400 × 1600 image (larger
// than the model's 1024-px view) a first click gives SAM's mask on the whole image; the
// second click is decoded on a crop around it at full resolution (the status bar says
// "zoomed in"), and the mask stays on the object; with the Pending mask panel's "zoom in on
// large images" off (kept in localStorage) the next refinement is decoded on the whole
// image. Real model.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { makeProject, startServer, launchBrowser, newPage, screenshot, clickImage, tearDown } from './support/harness.mjs';

const W = 2400;
const H = 1600;
const [CX, CY, R] = [1700, 500, 60];
let server, browser, project;

before(async () => {
  project = makeProject('zoom', { samples: false });
  // A textured red disc on grey stripes, as crates/samkit-server/tests/zoom.rs draws it.
  execFileSync('python3', ['-c', `
import sys
import numpy as np
from PIL import Image
y, x = np.mgrid[0:${H}, 0:${W}]
v = np.where((x + y) // 24 % 2 == 0, 90, 130)
img = np.stack([v, v, v + 20], axis=-1)
disc = np.hypot(x - ${CX}, y - ${CY}) <= ${R}
t = ((x // 6 + y // 6) % 2) * 30
img[disc] = np.stack([200 + t // 2, 40 + t, np.full_like(t, 30)], axis=-1)[disc]
Image.fromarray(img.astype(np.uint8)).save(sys.argv[1])
`, path.join(project.dir, 'large.png')]);
  server = await startServer(project.dir);
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'zoom' }));

// IoU of the pending mask with the disc.
const discIou = (page) => page.evaluate(([w, cx, cy, r]) => {
  const m = window.samkit.state.prompt.mask;
  let i = 0;
  let u = 0;
  for (let p = 0; p < m.length; p++) {
    const x = p % w;
    const y = (p - x) / w;
    const d = Math.hypot(x - cx, y - cy) <= r ? 1 : 0;
    i += m[p] & d;
    u += m[p] | d;
  }
  return i / u;
}, [W, CX, CY, R]);

test('zoom-in: refinement clicks on a large image are decoded on a crop, and the setting turns it off', async () => {
  const page = await newPage(browser, { user: 'zoomer', viewport: { width: 1440, height: 900 } });
  await page.goto(`${server.url}/?poll=0`);
  await page.waitForFunction(() => window.samkit?.ready);
  assert.equal(await page.getByTestId('opt-zoom').isChecked(), true, 'on by default');
  const status = () => page.getByTestId('mask-status').textContent();
  const predicted = async (n) => {
    await page.waitForFunction((k) => window.samkit.state.prompt.points.length === k
      && window.samkit.state.prompt.result && !window.samkit.state.predicting, n, { timeout: 120000 });
  };

  await clickImage(page, CX, CY);
  await predicted(1);
  assert.doesNotMatch(await status(), /zoomed/);
  await clickImage(page, CX + 20, CY + 30);
  await predicted(2);
  assert.match(await status(), /zoomed in \(\d+×\d+ px\)/);
  const zoom = await page.evaluate(() => window.samkit.state.prompt.result.zoom);
  assert.ok(zoom.crop[0] <= CX - R && zoom.crop[2] > CX + R && zoom.crop[2] - zoom.crop[0] < 1024, JSON.stringify(zoom));
  const zoomedIou = await discIou(page);
  assert.ok(zoomedIou > 0.9, `IoU with the disc ${zoomedIou.toFixed(3)}`);
  await screenshot(page, 'zoom-refined');

  // Off: the next refinement goes to the whole image, and the choice is remembered.
  await page.getByTestId('opt-zoom').uncheck();
  await clickImage(page, CX - 20, CY - 30);
  await predicted(3);
  assert.doesNotMatch(await status(), /zoomed/);
  assert.equal(await page.evaluate(() => window.samkit.state.prompt.result.zoom), null);
  await page.reload();
  await page.waitForFunction(() => window.samkit?.ready);
  assert.equal(await page.getByTestId('opt-zoom').isChecked(), false);
});
