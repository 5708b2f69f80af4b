// Thin client for the samkit HTTP API (docs/API.md). Every call sends the author header
// and throws an ApiError for non-2xx answers (network failures included), so callers
// always have a message to show: nothing fails silently.

export class ApiError extends Error {
  constructor(status, body, message) {
    super(message || (body && body.error) || `HTTP ${status}`);
    this.status = status; // 0 = network error
    this.body = body || {};
    this.code = this.body.code || (status === 0 ? 'network' : 'http');
  }
  get isConflict() {
    return this.status === 409;
  }
}

const USER_KEY = 'samkit.user';

export class Api {
  constructor(base = '') {
    this.base = base;
    this.user = localStorage.getItem(USER_KEY) || '';
  }

  setUser(name) {
    this.user = name.trim().slice(0, 64);
    localStorage.setItem(USER_KEY, this.user);
  }

  headers(extra = {}) {
    const h = { ...extra };
    if (this.user) h['X-Samkit-User'] = this.user;
    return h;
  }

  async request(method, path, body, { raw = false, contentType } = {}) {
    const init = { method, headers: this.headers() };
    // The server refuses changes without a JSON (or upload) content type: that is how it
    // tells this page from other sites' forms.
    if (method !== 'GET' && body === undefined) init.headers['Content-Type'] = 'application/json';
    if (body !== undefined) {
      if (contentType) {
        init.headers['Content-Type'] = contentType;
        init.body = body;
      } else {
        init.headers['Content-Type'] = 'application/json';
        init.body = JSON.stringify(body);
      }
    }
    let res;
    try {
      res = await fetch(this.base + path, init);
    } catch (e) {
      throw new ApiError(0, null, `network error: ${method} ${path} failed (${e.message}); is the server running?`);
    }
    if (res.status === 401 && path !== '/api/session') {
      // The session ended (signed out elsewhere, expired, user disabled): sign in again.
      location.replace('/login.html');
    }
    if (!res.ok) {
      let data = null;
      try {
        data = await res.json();
      } catch {
        data = { error: `${method} ${path}: HTTP ${res.status} ${res.statusText}` };
      }
      const err = new ApiError(res.status, data);
      err.retryAfter = Number(res.headers.get('Retry-After')) || 0;
      throw err;
    }
    if (raw) return res;
    if (res.status === 204) return null;
    return res.json();
  }

  get(path) { return this.request('GET', path); }
  post(path, body) { return this.request('POST', path, body === undefined ? {} : body); }
  put(path, body) { return this.request('PUT', path, body); }
  patch(path, body) { return this.request('PATCH', path, body); }
  del(path) { return this.request('DELETE', path); }

  // --- endpoints -------------------------------------------------------------------
  health() { return this.get('/api/health'); }
  session() { return this.get('/api/session'); }
  project() { return this.get('/api/project'); }
  images() { return this.get('/api/images').then((r) => r.images); }
  image(id) { return this.get(`/api/images/${id}`); }
  imageUrl(id) { return `${this.base}/api/images/${id}/file`; }
  setStatus(id, status, version) { return this.put(`/api/images/${id}/status`, { status, version }); }
  embed(id, priority = 'now') { return this.post(`/api/images/${id}/embed`, { priority }); }
  embeddings() { return this.get('/api/embeddings'); }
  predict(id, req) { return this.post(`/api/images/${id}/predict`, req); }
  outline(id, req) { return this.post(`/api/images/${id}/outline`, req); }
  instances(imageId, assignment = null) {
    const only = assignment ? `?assignment=${assignment}` : '';
    return this.get(`/api/images/${imageId}/instances${only}`).then((r) => r.instances);
  }
  createInstance(imageId, body) { return this.post(`/api/images/${imageId}/instances`, body); }
  patchInstance(id, body) { return this.patch(`/api/instances/${id}`, body); }
  deleteInstance(id, version) { return this.del(`/api/instances/${id}?version=${version}`); }
  restoreInstance(id, version) { return this.post(`/api/instances/${id}/restore`, { version }); }
  categories() { return this.get('/api/categories').then((r) => r.categories); }
  createCategory(name, color) { return this.post('/api/categories', color ? { name, color } : { name }); }
  patchCategory(id, body) { return this.patch(`/api/categories/${id}`, body); }
  deleteCategory(id, version, reassignTo) {
    const to = reassignTo != null ? `&reassign_to=${reassignTo}` : '';
    return this.del(`/api/categories/${id}?version=${version}${to}`);
  }
  orderCategories(ids) { return this.put('/api/categories/order', { ids }).then((r) => r.categories); }
  restoreHistory(entryId, version) { return this.post(`/api/history/${entryId}/restore`, { version }); }
  instance(id) { return this.get(`/api/instances/${id}`); }
  thumbUrl(id) { return `${this.base}/api/images/${id}/thumb`; }
  history(query = '') { return this.get(`/api/history${query}`); }
  exportUrl(format) { return `${this.base}/api/export?format=${encodeURIComponent(format)}`; }
  async importFile(format, file) {
    const type = format === 'coco' ? 'application/json' : 'application/zip';
    return this.request('POST', `/api/import?format=${encodeURIComponent(format)}`, file, { contentType: type });
  }
}
