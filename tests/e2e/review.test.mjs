// End-to-end: the review workflow in the browser (issue 11). An admin assigns an image to
// an annotator, who annotates it and submits it; a reviewer finds it in the "needs review"
// list, rejects it with a comment; the annotator reads the comment and submits again; the
// reviewer approves it and leaves a comment on the instance, drawn on the canvas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import {
  makeProject, startServer, launchBrowser, newPage, screenshot, samkitBinary, tearDown,
} from './support/harness.mjs';

let server, browser, project;

function addUser(dir, name, role) {
  const r = spawnSync(samkitBinary(), ['users', 'add', name, '--role', role, '--password-file', '-', '--project', dir], {
    input: `${name} password\n`,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `samkit users add ${name}: ${r.stdout}${r.stderr}`);
}

before(async () => {
  project = makeProject('review');
  for (const [n, r] of [['ada', 'admin'], ['rita', 'reviewer'], ['alan', 'annotator']]) addUser(project.dir, n, r);
  server = await startServer(project.dir, { waitModel: false, extraArgs: ['--no-model'] });
  browser = await launchBrowser();
});

after(() => tearDown({ browser, server, project, log: 'review' }));

async function signedIn(name) {
  const page = await newPage(browser, { signedIn: false });
  await page.goto(server.url);
  await page.getByTestId('login-form').waitFor();
  await page.getByTestId('login-name').fill(name);
  await page.getByTestId('login-password').fill(`${name} password`);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('signed-in-name').filter({ hasText: name }).waitFor();
  return page;
}

/** fetch() in the page, as its signed-in user; throws on a non-2xx answer. */
async function call(page, method, path, body) {
  const r = await page.evaluate(async ([m, p, b]) => {
    const res = await fetch(p, { method: m, headers: { 'Content-Type': 'application/json' }, body: b && JSON.stringify(b) });
    return { status: res.status, json: await res.json().catch(() => null) };
  }, [method, path, body]);
  if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${JSON.stringify(r.json)}`);
  return r.json;
}

const state = (page, text) => page.getByTestId('review-state').filter({ hasText: text }).waitFor();

test('submit, reject with a comment, submit again, approve; comments on the canvas', async () => {
  const admin = await signedIn('ada');
  const images = (await call(admin, 'GET', '/api/images')).images;
  const image = images.find((i) => i.name === 'coffee.png');
  await call(admin, 'POST', '/api/assignments', { images: [image.id], user: 'alan' });

  // The annotator sees the one image assigned to him and annotates it.
  const alan = await signedIn('alan');
  await alan.getByTestId('image-item').first().waitFor();
  assert.equal(await alan.getByTestId('image-item').count(), 1, 'only the assigned image is listed');
  await state(alan, 'your work · assigned');
  const [h, w] = [image.height, image.width];
  const inst = await call(alan, 'POST', `/api/images/${image.id}/instances`, {
    rle: { size: [h, w], counts: [w * 150 + 100, 20000, h * w - w * 150 - 100 - 20000] },
  });
  await alan.getByTestId('review-submit').click();
  await state(alan, 'submitted');
  assert.equal(await alan.getByTestId('review-submit').isVisible(), false);
  assert.equal(await alan.getByTestId('image-status').isVisible(), false, 'the workflow moves the status');
  await alan.getByTestId('canvas').focus();
  await alan.keyboard.press('d');
  await alan.getByTestId('banner-info').filter({ hasText: /Submit for review/ }).waitFor();

  // The reviewer's queue: images that need review.
  const rita = await signedIn('rita');
  await rita.getByTestId('image-status-filter').selectOption('needs_review');
  await rita.waitForFunction(() => document.querySelectorAll('[data-testid="image-item"]:not([hidden])').length === 1);
  const queued = rita.locator('[data-testid="image-item"]:not([hidden])');
  assert.match(await queued.textContent(), /coffee\.png/, 'the submitted image waits for review');
  await queued.click();
  await state(rita, 'alan · submitted');
  await rita.getByTestId('review-reject').click();
  await rita.getByTestId('review-reject-send').click();
  await rita.getByTestId('banner-info').filter({ hasText: /Say what to fix/ }).waitFor();
  await rita.getByTestId('review-reject-text').fill('the saucer is missing its rim');
  await rita.getByTestId('review-reject-send').click();
  await state(rita, 'rejected');

  // Back to the annotator, with the comment.
  await alan.reload();
  await state(alan, 'rejected');
  await alan.getByTestId('review-comment').filter({ hasText: 'Sent back by rita: the saucer is missing its rim' }).waitFor();
  await screenshot(alan, 'review-rejected');
  await alan.getByTestId('review-submit').click();
  await state(alan, 'submitted');

  await rita.reload();
  await state(rita, 'alan · submitted');
  await rita.getByTestId('review-approve').click();
  await state(rita, 'approved');
  assert.equal(await rita.getByTestId('review-reopen').isVisible(), true);
  await rita.getByTestId('review-comment-text').fill('nice edges');
  await rita.getByTestId('review-comment-add').click();
  await rita.getByTestId('comment-marker').filter({ hasText: 'rita: nice edges' }).waitFor();
  const marker = await rita.getByTestId('comment-marker').boundingBox();
  const stage = await rita.getByTestId('stage').boundingBox();
  assert.ok(marker.x > stage.x + 50 && marker.y > stage.y + 20, `the marker sits by its instance: ${JSON.stringify(marker)}`);
  await screenshot(rita, 'review-approved');

  // Export from the app: approved work only (the default of a team project).
  assert.equal(await rita.getByTestId('export-approved').isChecked(), true);
  const [download] = await Promise.all([rita.waitForEvent('download'), rita.getByTestId('export-button').click()]);
  const coco = JSON.parse(fs.readFileSync(await download.path(), 'utf8'));
  assert.deepEqual(coco.images.map((i) => i.file_name), ['coffee.png']);
  assert.equal(coco.annotations.length, 1);

  // The report: the annotator's progress (sent back once of two submissions).
  await rita.getByTestId('report-button').click();
  await rita.getByTestId('report-body').locator('tr', { hasText: 'alan' }).filter({ hasText: '1/2 (50%)' }).waitFor();
  await screenshot(rita, 'review-report');
  await rita.getByTestId('report-close').click();
  assert.equal(await alan.getByTestId('report-button').isVisible(), false, 'no report for annotators');

  // Approved work is locked for the annotator (and everyone) until reopened.
  const locked = await alan.evaluate(async (id) => (await fetch(`/api/instances/${id}?version=1`, {
    method: 'DELETE', headers: { 'Content-Type': 'application/json' },
  })).status, inst.id);
  assert.equal(locked, 423);
  const history = await call(rita, 'GET', `/api/history?entity=assignment&image_id=${image.id}`);
  assert.deepEqual(
    history.entries.map((e) => `${e.action}:${e.author}`).reverse(),
    ['assign:ada', 'start:alan', 'submit:alan', 'reject:rita', 'submit:alan', 'approve:rita'],
  );
});
