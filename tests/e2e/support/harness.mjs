// Shared helpers for the end-to-end tests: find/build the `samkit` binary, make a temporary
// project from the bundled samples, start `samkit serve`, launch headless Chromium.
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import zlib from 'node:zlib';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const ARTIFACTS = process.env.SAMKIT_E2E_ARTIFACTS || path.join(ROOT, 'target/e2e-artifacts');
export const CHROMIUM = process.env.SAMKIT_CHROMIUM || '/usr/bin/chromium';

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Path of the samkit binary: $SAMKIT_BIN, else target/release/samkit (built if missing). */
export function samkitBinary() {
  if (process.env.SAMKIT_BIN) return path.resolve(process.env.SAMKIT_BIN);
  const bin = path.join(ROOT, 'target/release/samkit');
  if (process.env.SAMKIT_E2E_NO_BUILD !== '1') {
    // Cheap when up to date; makes sure the embedded UI files are the current ones.
    const r = spawnSync('cargo', ['build', '--release', '-p', 'samkit-cli'], { cwd: ROOT, stdio: 'inherit' });
    if (r.status !== 0) throw new Error('cargo build --release -p samkit-cli failed');
  }
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found; build it or set SAMKIT_BIN`);
  return bin;
}

/**
 * A fresh project folder with copies of samples/* (plus a non-image file that is skipped);
 * `copies` more sets go to subfolders more-1/, more-2/...; `fresh` synthetic images with
 * random pixels go to fresh/ — never seen before, so the server really has to encode them
 * (the embedding cache is keyed by pixel hash and survives across runs).
 */
export function makeProject(name = 'e2e', { copies = 0, fresh = 0, samples = true } = {}) {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), `samkit-${name}-`));
  const dir = path.join(base, name);
  fs.mkdirSync(dir);
  if (!samples) return { base, dir };
  for (let k = 0; k <= copies; k++) {
    const dest = k ? path.join(dir, `more-${k}`) : dir;
    fs.mkdirSync(dest, { recursive: true });
    for (const f of fs.readdirSync(path.join(ROOT, 'samples'))) {
      if (/\.(png|jpe?g)$/i.test(f)) fs.copyFileSync(path.join(ROOT, 'samples', f), path.join(dest, f));
    }
  }
  for (let k = 1; k <= fresh; k++) {
    fs.mkdirSync(path.join(dir, 'fresh'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'fresh', `synthetic-${k}.png`), syntheticPng(480, 360, Math.random()));
  }
  fs.writeFileSync(path.join(dir, 'notes.txt'), 'not an image\n');
  return { base, dir };
}

/**
 * The end of a test file: the browser closed, the server's log kept in ARTIFACTS as
 * `<log>-server.log` and the server stopped, the project folder removed (unless
 * SAMKIT_E2E_KEEP). Any of them may be missing (a `before` that failed).
 */
export async function tearDown({ browser, server, project, log }) {
  await browser?.close();
  if (server) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    fs.writeFileSync(path.join(ARTIFACTS, `${log}-server.log`), server.log());
    await server.stop();
  }
  if (project && !process.env.SAMKIT_E2E_KEEP) fs.rmSync(project.base, { recursive: true, force: true });
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** The one-person token of each server started here (base URL -> token). */
const TOKENS = new Map();

/** The token `samkit serve` printed (`open http://…/?token=T …`), once it is there. */
function printedToken(out) {
  return out.match(/\/\?token=([0-9a-f]+)/)?.[1] || null;
}

/**
 * Start `samkit serve <dir> --port <free port>` and wait until /api/health answers.
 * Returns {url, proc, log(), stop()}. With `waitModel`, also waits for the model to be ready.
 */
export async function startServer(dir, { waitModel = true, extraArgs = [], env = {} } = {}) {
  const port = await freePort();
  // SAMKIT_E2E_MOCK=1: run against tests/e2e/support/mock-server.mjs (UI development only).
  const mock = process.env.SAMKIT_E2E_MOCK === '1';
  const bin = mock ? process.execPath : samkitBinary();
  const args = mock
    ? [path.join(ROOT, 'tests/e2e/support/mock-server.mjs'), String(port), dir]
    : ['serve', dir, '--port', String(port), ...extraArgs];
  const proc = spawn(bin, args, { cwd: path.dirname(dir), env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.on('error', (e) => (out += `\nspawn ${bin} failed: ${e.message}\n`));
  proc.stdout.on('data', (d) => (out += d));
  proc.stderr.on('data', (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const log = () => out;
  const stop = async () => {
    if (proc.exitCode !== null) return;
    proc.kill('SIGTERM');
    await Promise.race([new Promise((r) => proc.once('exit', r)), sleep(5000)]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
  };
  const deadline = Date.now() + 120000;
  let health = null;
  for (;;) {
    if (proc.exitCode !== null || /spawn .* failed/.test(out)) throw new Error(`samkit serve exited with ${proc.exitCode}:\n${out}`);
    try {
      const r = await fetch(`${url}/api/health`);
      if (r.ok) {
        health = await r.json();
        const state = health.model?.state;
        if (!waitModel || state === 'ready') break;
        if (state === 'failed' || state === 'disabled') {
          await stop();
          throw new Error(`model ${state}: ${health.model?.error || ''}\n${out}`);
        }
      }
    } catch (e) {
      if (e.message.startsWith('model ')) throw e;
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`samkit serve did not become ready in time (last health: ${JSON.stringify(health)}):\n${out}`);
    }
    await sleep(200);
  }
  // A project without users signs in with the token of the printed address; pages made by
  // newPage() get it as their cookie, api() as a Bearer token.
  let token = null;
  for (let i = 0; i < 50 && !(token = printedToken(out)) && !/and sign in/.test(out); i++) await sleep(100);
  if (token) TOKENS.set(url, token);
  return { url, proc, log, stop, health, port, token };
}

export async function launchBrowser() {
  if (!fs.existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: apt-get install -y chromium (or set SAMKIT_CHROMIUM)`);
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A page that fails the test on uncaught page errors and keeps the console for diagnosis. */
export async function newPage(browser, { user, viewport = { width: 1400, height: 860 }, signedIn = true } = {}) {
  const context = await browser.newContext({ viewport, acceptDownloads: true });
  // Signed in to every server started so far, as opening the printed address does.
  const cookies = [...TOKENS].map(([url, value]) => ({ name: `samkit_session_${new URL(url).port}`, value, url }));
  if (signedIn && cookies.length) await context.addCookies(cookies);
  if (user) await context.addInitScript((u) => localStorage.setItem('samkit.user', u), user);
  // SAMKIT_E2E_UI=disk: the UI files come from crates/samkit-server/ui/ as they are now,
  // not from the binary (UI development without a rebuild; the API is still the server's).
  if (process.env.SAMKIT_E2E_UI === 'disk') {
    await context.route(/^http:\/\/127\.0\.0\.1:\d+\/([\w.-]*)(\?.*)?$/, (route, req) => {
      const name = new URL(req.url()).pathname.slice(1) || 'index.html';
      const file = path.join(ROOT, 'crates/samkit-server/ui', name);
      if (!/^[\w.-]+$/.test(name) || !fs.existsSync(file)) return route.continue();
      const types = { html: 'text/html', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml' };
      return route.fulfill({ body: fs.readFileSync(file), contentType: types[name.split('.').pop()] || 'application/octet-stream' });
    });
  }
  const page = await context.newPage();
  page.errors = [];
  page.consoleLog = [];
  page.on('pageerror', (e) => page.errors.push(e.message));
  // The app must work offline: record any request that leaves 127.0.0.1 (CDNs, fonts...).
  page.external = [];
  page.on('request', (r) => {
    if (!/^(https?:\/\/127\.0\.0\.1[:/]|blob:|data:)/.test(r.url())) page.external.push(r.url());
  });
  page.on('console', (m) => page.consoleLog.push(`${m.type()}: ${m.text()}`));
  return page;
}

export async function screenshot(page, name) {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Click at image pixel (x, y) through the canvas (button: 'left' | 'right'). */
export async function clickImage(page, x, y, opts = {}) {
  const p = await page.evaluate(([a, b]) => window.samkit.toClient(a, b), [x, y]);
  await page.mouse.click(p.x, p.y, opts);
}

export async function api(url, method, pathname, body, user = 'e2e-script') {
  const r = await fetch(url + pathname, {
    method,
    headers: {
      'Content-Type': 'application/json',
      'X-Samkit-User': user,
      ...(TOKENS.has(url) ? { Authorization: `Bearer ${TOKENS.get(url)}` } : {}),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not json */ }
  if (!r.ok) throw Object.assign(new Error(`${method} ${pathname} -> ${r.status}: ${text}`), { status: r.status, json });
  return json;
}

/** Signs `name` in through the API; later api() calls to `url` carry this session. */
export async function signIn(url, name, password) {
  const r = await fetch(`${url}/api/login`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, password, token: true }),
  });
  if (!r.ok) throw new Error(`sign-in of ${name} failed: ${r.status} ${await r.text()}`);
  TOKENS.set(url, (await r.json()).token);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Integer from a status line like "mask: 12,345 px, predicted IoU 0.97". */
export function parseArea(text) {
  const m = /mask:\s*([\d,]+)\s*px/.exec(text || '');
  return m ? Number(m[1].replace(/,/g, '')) : 0;
}

// --- a minimal PNG writer for synthetic test images -----------------------------------------
const CRC_TABLE = new Int32Array(256).map((_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c;
});
function crc32(buf) {
  let c = -1;
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 255] ^ (c >>> 8);
  return (c ^ -1) >>> 0;
}
function chunk(type, data) {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const td = Buffer.concat([Buffer.from(type, 'ascii'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(td));
  return Buffer.concat([len, td, crc]);
}
/** RGB PNG of one colour `rgb` with filled rectangles `rects` ([x0, y0, x1, y1, [r, g, b]]). */
export function solidPng(w, h, rgb, rects = []) {
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    for (let x = 0; x < w; x++) {
      let c = rgb;
      for (const [x0, y0, x1, y1, rc] of rects) if (x >= x0 && x < x1 && y >= y0 && y < y1) c = rc;
      raw.set(c, row + 1 + x * 3);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8;
  ihdr[9] = 2;
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}

/** RGB PNG: a gradient background with a few coloured discs and boxes placed by `seed`. */
export function syntheticPng(w, h, seed) {
  let state = Math.floor(seed * 2 ** 31) || 1;
  const rnd = () => ((state = (state * 48271) % 2147483647) / 2147483647);
  const shapes = Array.from({ length: 4 }, () => ({
    disc: rnd() < 0.5, x: rnd() * w, y: rnd() * h, r: 30 + rnd() * 60,
    c: [rnd() * 255, rnd() * 255, rnd() * 255].map(Math.floor),
  }));
  const raw = Buffer.alloc((w * 3 + 1) * h);
  for (let y = 0; y < h; y++) {
    const row = y * (w * 3 + 1);
    raw[row] = 0;
    for (let x = 0; x < w; x++) {
      let c = [40 + (x * 80) / w, 60 + (y * 80) / h, 90];
      for (const s of shapes) {
        const inside = s.disc ? (x - s.x) ** 2 + (y - s.y) ** 2 < s.r ** 2 : Math.abs(x - s.x) < s.r && Math.abs(y - s.y) < s.r * 0.6;
        if (inside) c = s.c;
      }
      const i = row + 1 + x * 3;
      raw[i] = Math.min(255, c[0] + Math.floor(rnd() * 6));
      raw[i + 1] = Math.min(255, c[1] + Math.floor(rnd() * 6));
      raw[i + 2] = c[2];
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(w, 0);
  ihdr.writeUInt32BE(h, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // RGB
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', ihdr),
    chunk('IDAT', zlib.deflateSync(raw)),
    chunk('IEND', Buffer.alloc(0)),
  ]);
}
