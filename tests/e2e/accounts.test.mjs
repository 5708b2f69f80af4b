// End-to-end: accounts in the browser (issue 11). A project with users asks for a log-in;
// an annotator signs in, sees their name and role, does not get the admin's controls and
// is refused an admin action; signing out ends the session; the admin gets the controls.
// A project without users sends a browser without the token to a page that says where the
// address with the token is.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  makeProject, startServer, launchBrowser, newPage, screenshot, samkitBinary, tearDown,
} from './support/harness.mjs';

let server, browser, project, solo, soloProject;

function addUser(dir, name, role, password) {
  const r = spawnSync(samkitBinary(), ['users', 'add', name, '--role', role, '--password-file', '-', '--project', dir], {
    input: `${password}\n`,
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, `samkit users add ${name}: ${r.stdout}${r.stderr}`);
}

before(async () => {
  project = makeProject('accounts');
  addUser(project.dir, 'Ada', 'admin', 'ada password');
  addUser(project.dir, 'Alan', 'annotator', 'alan password');
  server = await startServer(project.dir, { waitModel: false, extraArgs: ['--no-model'] });
  soloProject = makeProject('accounts-solo');
  solo = await startServer(soloProject.dir, { waitModel: false, extraArgs: ['--no-model'] });
  browser = await launchBrowser();
});

after(async () => {
  await tearDown({ browser, server, project, log: 'accounts' });
  await tearDown({ server: solo, project: soloProject, log: 'accounts-solo' });
});

async function signIn(page, name, password) {
  await page.getByTestId('login-form').waitFor();
  await page.getByTestId('login-name').fill(name);
  await page.getByTestId('login-password').fill(password);
  await page.getByTestId('login-submit').click();
}

test('sign in as an annotator, no admin controls, an admin action refused, sign out; the admin has them', async () => {
  const page = await newPage(browser, { signedIn: false });
  // The name the browser would have sent without accounts: ignored now.
  await page.addInitScript(() => localStorage.setItem('samkit.user', 'mallory'));
  await page.goto(server.url);
  await page.waitForURL(/\/login\.html$/);
  await signIn(page, 'alan', 'wrong password');
  await page.getByTestId('login-message').filter({ hasText: /wrong name or password/ }).waitFor();
  await screenshot(page, 'accounts-login');
  await signIn(page, 'alan', 'alan password');
  await page.waitForURL(`${server.url}/`);
  await page.getByTestId('signed-in-name').filter({ hasText: 'Alan (annotator)' }).waitFor();
  assert.equal(await page.getByTestId('user-name').isVisible(), false, 'no free name field with accounts');
  for (const id of ['add-category', 'guidelines-edit', 'import-button', 'export-button']) {
    assert.equal(await page.getByTestId(id).isVisible(), false, `${id} hidden from an annotator`);
  }
  await page.getByTestId('canvas').focus();
  await page.keyboard.press('k');
  await page.getByTestId('banner-info').filter({ hasText: /managed by the project's admins/ }).waitFor();
  assert.equal(await page.getByTestId('category-manager').isVisible(), false);
  // The server refuses the admin action whatever the page shows.
  const refused = await page.evaluate(async () => {
    const r = await fetch('/api/project/guidelines', {
      method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ guidelines: 'mine', version: 1 }),
    });
    return { status: r.status, body: await r.json() };
  });
  assert.equal(refused.status, 403);
  assert.match(refused.body.error, /admin/);
  const who = await page.evaluate(async () => (await (await fetch('/api/session')).json()).user);
  assert.deepEqual([who.name, who.role], ['Alan', 'annotator']);
  await screenshot(page, 'accounts-annotator');

  await page.getByTestId('sign-out').click();
  await page.waitForURL(/\/login\.html$/);
  const after = await page.evaluate(async () => (await fetch('/api/images')).status);
  assert.equal(after, 401, 'the session ended with the sign-out');

  await signIn(page, 'Ada', 'ada password');
  await page.getByTestId('signed-in-name').filter({ hasText: 'Ada (admin)' }).waitFor();
  for (const id of ['add-category', 'guidelines-edit', 'export-button']) {
    assert.equal(await page.getByTestId(id).isVisible(), true, `${id} shown to the admin`);
  }
  await page.getByTestId('add-category').click();
  await page.getByTestId('category-manager').waitFor();
  await screenshot(page, 'accounts-admin');
});

test('without users, a browser without the printed address is told where to find it', async () => {
  const page = await newPage(browser, { signedIn: false });
  await page.goto(solo.url);
  await page.waitForURL(/\/login\.html$/);
  await page.getByTestId('login-help').filter({ hasText: /\/\?token=/ }).waitFor();
  assert.equal(await page.getByTestId('login-form').isVisible(), false);
  // The printed address signs the browser in and leaves the address bar clean.
  await page.goto(`${solo.url}/?token=${solo.token}`);
  await page.waitForURL(`${solo.url}/`);
  await page.getByTestId('project-name').filter({ hasText: /accounts-solo/ }).waitFor();
  assert.equal(await page.getByTestId('user-name').isVisible(), true, 'one person names themself');
});
