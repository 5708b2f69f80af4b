// End-to-end: two annotators (two browser contexts) edit the same instance. The stale
// write is refused with a visible conflict message and nothing is lost. Also: missing
// image on disk, skipped files, and network errors are shown, never silent.
// Needs no model: instances are created through the API with synthetic masks.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ARTIFACTS, makeProject, startServer, launchBrowser, newPage, screenshot, api } from './support/harness.mjs';
import { encodeRle } from '../../crates/samkit-server/ui/rle.js';

const IMAGE = 'chelsea.png';
let server, browser, project;

before(async () => {
  project = makeProject('collab');
  server = await startServer(project.dir, { waitModel: false, extraArgs: ['--no-model'] });
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  if (server) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, 'collab-server.log'), server.log());
    await server.stop();
  }
  if (project && !process.env.SAMKIT_E2E_KEEP) fs.rmSync(project.base, { recursive: true, force: true });
});

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
