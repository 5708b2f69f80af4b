// The image list: one row per image (thumbnail, name, embedding state, instance count,
// status, kept unaccepted work), a filter by name and status that N/P and ◀/▶ follow, and
// the keyboard: the list is one Tab stop, ↑/↓ move in it, Enter or Space opens the image.
// Rows are kept and updated in place (the list is refreshed by the progress poll), so
// thumbnails load once and a row that has the focus keeps it.

import { tid, showInfo } from './dom.js';
import { api, S } from './state.js';
import { openImage, drafts } from './images.js';

export const STATUS_LABEL = { todo: 'todo', in_progress: 'in progress', done: 'done', needs_review: 'needs review' };

const filter = { text: '', status: '' };
const rows = new Map(); // image id -> <li>

const statusOf = (im) => (im.missing ? 'missing' : im.status);
export const filterActive = () => !!(filter.text || filter.status);

export function matchesFilter(im) {
  if (filter.status && statusOf(im) !== filter.status) return false;
  return !filter.text || im.name.toLowerCase().includes(filter.text);
}

function makeRow(im) {
  const li = document.createElement('li');
  li.dataset.testid = 'image-item';
  li.setAttribute('role', 'option');
  li.innerHTML = `<span class="thumb-box"><img class="thumb" data-testid="image-thumb" alt="" loading="lazy" decoding="async" width="48" height="36"></span>
    <span class="meta"><span class="name"></span>
      <span class="sub"><span class="dot"></span><span class="badge"></span><span class="count" title="instances"></span>
        <span class="draft" data-testid="image-draft" title="unaccepted mask kept: open the image to continue" hidden>✎</span></span></span>`;
  const img = li.querySelector('img');
  img.addEventListener('error', () => li.classList.add('no-thumb'));
  if (!im.missing) img.src = api.thumbUrl(im.id);
  else li.classList.add('no-thumb');
  return li;
}

/** Loads the thumbnails of `ids` again (their pixels changed: a volume's new window). */
export function refreshThumbs(ids) {
  const stamp = Date.now();
  for (const id of ids) {
    const img = rows.get(id)?.querySelector('img.thumb');
    if (img) img.src = `${api.thumbUrl(id)}?shown=${stamp}`;
  }
}

function updateRow(li, im, i, states) {
  const emb = states[im.id] || im.embedding || 'none';
  const status = statusOf(im);
  const draft = i !== S.index && drafts.pending(im.id);
  li.dataset.id = im.id;
  li.dataset.index = i;
  li.dataset.status = status;
  if (draft) li.dataset.draft = '1';
  else delete li.dataset.draft;
  li.title = im.name;
  li.classList.toggle('current', i === S.index);
  li.classList.toggle('missing', !!im.missing);
  li.setAttribute('aria-selected', String(i === S.index));
  li.hidden = !matchesFilter(im);
  li.querySelector('.name').textContent = im.name;
  const dot = li.querySelector('.dot');
  dot.className = `dot emb-${emb}`;
  dot.title = `embedding: ${emb}`;
  li.querySelector('.draft').hidden = !draft;
  li.querySelector('.count').textContent = im.instance_count ?? '';
  const badge = li.querySelector('.badge');
  badge.className = `badge st-${status}`;
  badge.textContent = im.missing ? 'missing' : STATUS_LABEL[im.status] || im.status;
}

export function renderImageList() {
  const ul = tid('image-list');
  const states = S.embeddings?.states || {};
  const present = new Set();
  S.images.forEach((im, i) => {
    let li = rows.get(im.id);
    if (!li) {
      li = makeRow(im);
      rows.set(im.id, li);
    }
    present.add(im.id);
    updateRow(li, im, i, states);
    if (ul.children[i] !== li) ul.insertBefore(li, ul.children[i] || null);
  });
  for (const [id, li] of rows) {
    if (!present.has(id)) {
      li.remove();
      rows.delete(id);
    }
  }
  // One Tab stop: the focused row, else the current image, else the first row shown.
  const focused = ul.contains(document.activeElement) && !document.activeElement.hidden ? document.activeElement : null;
  const stop = focused || ul.querySelector('li.current:not([hidden])') || ul.querySelector('li:not([hidden])');
  for (const li of ul.children) li.tabIndex = li === stop ? 0 : -1;

  const shown = ul.querySelectorAll('li[data-index]:not([hidden])').length;
  const done = S.images.filter((i) => i.status === 'done').length;
  let counts = S.images.length ? `(${done}/${S.images.length} done)` : '';
  if (S.project?.counts?.missing) counts += ` · ${S.project.counts.missing} missing`;
  if (filterActive()) counts += ` · ${shown} shown`;
  tid('image-counts').textContent = counts;
  let empty = ul.querySelector('.filter-empty');
  if (filterActive() && !shown && S.images.length) {
    if (!empty) {
      empty = document.createElement('li');
      empty.className = 'filter-empty muted';
      empty.dataset.testid = 'image-filter-empty';
      ul.append(empty);
    }
    empty.textContent = 'No image matches the filter.';
  } else {
    empty?.remove();
  }
  // Bring the current image into view when it changes only, not on every refresh (the
  // list is re-rendered by the progress poll while the user may be scrolling it).
  if (S.scrolledTo !== S.index) {
    S.scrolledTo = S.index;
    ul.querySelector('li.current')?.scrollIntoView({ block: 'nearest' });
  }
}

/** N / P, ◀ / ▶: the next image in direction `d` that the filter shows; says when there is none. */
export function stepImage(d) {
  for (let i = S.index + d; i >= 0 && i < S.images.length; i += d) {
    if (matchesFilter(S.images[i])) return openImage(i);
  }
  const which = d > 0 ? 'next' : 'previous';
  showInfo(filterActive() ? `No ${which} image matches the filter` : `No ${which} image: this is the ${d > 0 ? 'last' : 'first'} one`, 2500);
  return null;
}

export function bindImageList() {
  const ul = tid('image-list');
  ul.addEventListener('click', (e) => {
    const li = e.target.closest('li[data-index]');
    if (li) openImage(Number(li.dataset.index));
  });
  ul.addEventListener('keydown', (e) => {
    const li = e.target.closest('li[data-index]');
    if (!li) return;
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      openImage(Number(li.dataset.index));
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp' || e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      const shown = [...ul.querySelectorAll('li[data-index]:not([hidden])')];
      const k = shown.indexOf(li);
      const next = { ArrowDown: shown[k + 1], ArrowUp: shown[k - 1], Home: shown[0], End: shown[shown.length - 1] }[e.key];
      if (next) {
        li.tabIndex = -1;
        next.tabIndex = 0;
        next.focus();
      }
    }
  });
  const search = tid('image-search');
  search.addEventListener('input', () => {
    filter.text = search.value.trim().toLowerCase();
    renderImageList();
  });
  // Enter in the search box opens the first image shown; ↓ goes into the list.
  search.addEventListener('keydown', (e) => {
    const first = ul.querySelector('li[data-index]:not([hidden])');
    if (e.key === 'Enter' && first) {
      e.preventDefault();
      openImage(Number(first.dataset.index));
    } else if (e.key === 'ArrowDown' && first) {
      e.preventDefault();
      first.focus();
    }
  });
  tid('image-status-filter').addEventListener('change', (e) => {
    filter.status = e.target.value;
    renderImageList();
  });
}
