// A tiny in-memory imitation of `samkit serve` (docs/API.md) for developing the UI without
// the Rust server or a model: predictions are discs around the clicks. Not used by the
// tests against the real server; run by hand:
//   node tests/e2e/support/mock-server.mjs [port] [image dir]
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const UI = path.resolve(here, '../../../crates/samkit-server/ui');
const port = Number(process.argv[2] || 8765);
const dir = path.resolve(process.argv[3] || path.resolve(here, '../../../samples'));

function dims(buf) {
  if (buf.readUInt32BE(0) === 0x89504e47) return [buf.readUInt32BE(16), buf.readUInt32BE(20)];
  let i = 2;
  while (i < buf.length) {
    const marker = buf[i + 1];
    const len = buf.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xcf && ![0xc4, 0xc8, 0xcc].includes(marker)) return [buf.readUInt16BE(i + 7), buf.readUInt16BE(i + 5)];
    i += 2 + len;
  }
  return [0, 0];
}

const now = () => new Date().toISOString();
const images = fs.readdirSync(dir).filter((f) => /\.(png|jpe?g)$/i.test(f)).sort().map((name, i) => {
  const [width, height] = dims(fs.readFileSync(path.join(dir, name)));
  return { id: i + 1, name, width, height, status: 'todo', version: 1, instance_count: 0, embedding: 'none', missing: false, updated_at: now(), updated_by: null };
});
const categories = [{ id: 1, name: 'object', color: '#e6194b', version: 1, instance_count: 0 }];
const instances = [];
const emb = new Map();
let encoding = null;
let tokens = 0;

setInterval(() => {
  if (encoding) { emb.set(encoding, 'ready'); encoding = null; }
  const next = images.find((im) => emb.get(im.id) === 'queued');
  if (next) { encoding = next.id; emb.set(next.id, 'encoding'); }
}, 800);

function rleDisc(w, h, circles) {
  const counts = [];
  let cur = 0, run = 0;
  for (let x = 0; x < w; x++) for (let y = 0; y < h; y++) {
    let v = 0;
    for (const c of circles) if ((x - c.x) ** 2 + (y - c.y) ** 2 <= c.r * c.r) v = c.v;
    if (v === cur) run++; else { counts.push(run); cur = v; run = 1; }
  }
  counts.push(run);
  let area = 0;
  for (let i = 1; i < counts.length; i += 2) area += counts[i];
  return { rle: { size: [h, w], counts }, area };
}

function send(res, code, body, headers = {}) {
  res.writeHead(code, { 'Content-Type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  const user = req.headers['x-samkit-user'] || 'anonymous';
  let body = '';
  for await (const c of req) body += c;
  const json = body ? (() => { try { return JSON.parse(body); } catch { return {}; } })() : {};
  let m;
  if (!p.startsWith('/api/')) {
    const f = p === '/' ? 'index.html' : p.slice(1);
    const full = path.join(UI, f);
    if (!fs.existsSync(full)) return send(res, 404, { error: 'not found', code: 'not_found' });
    const type = { html: 'text/html', js: 'text/javascript', css: 'text/css', svg: 'image/svg+xml' }[f.split('.').pop()];
    res.writeHead(200, { 'Content-Type': type });
    return res.end(fs.readFileSync(full));
  }
  if (p === '/api/health') return send(res, 200, { ok: true, version: 'mock', model: { state: 'ready', id: 'mock' } });
  if (p === '/api/session') return send(res, 200, { mode: 'local', signed_in: true, user: { id: null, name: null, role: 'admin' } });
  if (p === '/api/project') {
    return send(res, 200, { name: path.basename(dir), root: dir, guidelines: '# Guidelines\n\n- Outline **every** cup.\n- Ignore <script>alert(1)</script> reflections.\n\nSee [the docs](https://example.invalid).', guidelines_version: 1, categories, counts: {}, skipped: [{ path: 'notes.txt', reason: 'not an image' }], model: { state: 'ready' } });
  }
  if (p === '/api/categories' && req.method === 'GET') return send(res, 200, { categories });
  if (p === '/api/categories' && req.method === 'POST') {
    const c = { id: categories.length + 1, name: json.name, color: '#4363d8', version: 1, instance_count: 0 };
    categories.push(c);
    return send(res, 201, c);
  }
  if (p === '/api/images') return send(res, 200, { images: images.map((im) => ({ ...im, embedding: emb.get(im.id) || 'none', instance_count: instances.filter((i) => i.image_id === im.id && !i.deleted).length })) });
  if (p === '/api/embeddings') {
    const states = {};
    for (const im of images) states[im.id] = emb.get(im.id) || 'none';
    return send(res, 200, { model: { state: 'ready' }, total: images.length, ready: [...emb.values()].filter((v) => v === 'ready').length, encoding: encoding ? { image_id: encoding } : null, queued: images.filter((im) => emb.get(im.id) === 'queued').map((im) => im.id), failed: [], states });
  }
  if ((m = /^\/api\/images\/(\d+)\/file$/.exec(p))) {
    const im = images.find((i) => i.id === Number(m[1]));
    res.writeHead(200, { 'Content-Type': im.name.endsWith('png') ? 'image/png' : 'image/jpeg' });
    return res.end(fs.readFileSync(path.join(dir, im.name)));
  }
  if ((m = /^\/api\/images\/(\d+)\/embed$/.exec(p))) {
    const id = Number(m[1]);
    for (const im of images) if (!emb.has(im.id)) emb.set(im.id, 'queued');
    return send(res, 202, { image_id: id, state: emb.get(id) });
  }
  if ((m = /^\/api\/images\/(\d+)\/status$/.exec(p))) {
    const im = images.find((i) => i.id === Number(m[1]));
    if (json.version !== im.version) return send(res, 409, { error: 'stale', code: 'conflict', conflict: { entity: 'image', id: im.id, author: im.updated_by, updated_at: im.updated_at } });
    Object.assign(im, { status: json.status, version: im.version + 1, updated_by: user, updated_at: now() });
    return send(res, 200, im);
  }
  if ((m = /^\/api\/images\/(\d+)\/predict$/.exec(p))) {
    const id = Number(m[1]);
    if (emb.get(id) !== 'ready') {
      await new Promise((r) => setTimeout(r, 1500));
      if (emb.get(id) !== 'ready') return send(res, 503, { error: 'encoding', code: 'encoding', embedding: emb.get(id) }, { 'Retry-After': '1' });
    }
    const im = images.find((i) => i.id === id);
    const pos = json.points.filter((q) => q.label === 'positive');
    const neg = json.points.filter((q) => q.label === 'negative');
    const c = pos[0] || { x: (json.box[0] + json.box[2]) / 2, y: (json.box[1] + json.box[3]) / 2 };
    // As the native decoder: the selection first (a multimask output for one click), then
    // the other multimask outputs and the single-mask one (token 0).
    const radii = json.multimask === false ? [[70, 0]] : [[70, 2], [110, 1], [55, 0], [40, 3]];
    const candidates = radii.map(([r, token], k) => {
      const d = rleDisc(im.width, im.height, [{ x: c.x, y: c.y, r, v: 1 }, ...neg.map((n) => ({ x: n.x, y: n.y, r: 35, v: 0 }))]);
      return { ...d, iou: 0.95 - k * 0.05, token, stability: 0.9, bbox: [c.x - r, c.y - r, 2 * r, 2 * r] };
    });
    return send(res, 200, { token: `p-${++tokens}`, candidates, decoder: 'native', decode_ms: 12.3, wait_ms: 0 });
  }
  if ((m = /^\/api\/images\/(\d+)\/instances$/.exec(p))) {
    const id = Number(m[1]);
    if (req.method === 'GET') return send(res, 200, { instances: instances.filter((i) => i.image_id === id && (!i.deleted || url.searchParams.get('include_deleted'))) });
    const area = json.rle.counts.filter((_, i) => i % 2).reduce((a, b) => a + b, 0);
    const inst = { id: instances.length + 1, image_id: id, category_id: json.category_id || 1, rle: json.rle, area, bbox: [0, 0, 1, 1], score: json.score, prompts: json.prompts, author: user, created_at: now(), updated_at: now(), updated_by: user, version: 1, deleted: false };
    instances.push(inst);
    return send(res, 201, inst);
  }
  if ((m = /^\/api\/instances\/(\d+)(\/restore)?$/.exec(p))) {
    const inst = instances.find((i) => i.id === Number(m[1]));
    const version = req.method === 'DELETE' ? Number(url.searchParams.get('version')) : json.version;
    if (version !== inst.version) return send(res, 409, { error: `instance ${inst.id} was changed by ${inst.updated_by}`, code: 'conflict', conflict: { entity: 'instance', id: inst.id, current_version: inst.version, author: inst.updated_by, updated_at: inst.updated_at, current: inst } });
    if (req.method === 'DELETE') inst.deleted = true;
    else if (m[2]) inst.deleted = false;
    else Object.assign(inst, json.category_id ? { category_id: json.category_id } : {}, json.rle ? { rle: json.rle } : {});
    Object.assign(inst, { version: inst.version + 1, updated_by: user, updated_at: now() });
    return send(res, 200, inst);
  }
  if (p === '/api/export') {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Disposition': 'attachment; filename="mock-coco.json"' });
    return res.end(JSON.stringify({ images, annotations: instances.filter((i) => !i.deleted), categories }));
  }
  send(res, 404, { error: `no route ${req.method} ${p}`, code: 'not_found' });
});
server.listen(port, '127.0.0.1', () => console.log(`mock samkit on http://127.0.0.1:${server.address().port}/`));
