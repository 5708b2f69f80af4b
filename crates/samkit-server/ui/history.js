// The history panel (side panel, "History"): the changes of the open image, or of one of its
// instances (the drop-down, or a click on an instance's #id in the list), newest first, each
// saying who did what and when. "restore" puts the instance or the image status back to its
// state after that change (POST /api/history/{id}/restore with the version read just
// before): a new change on top of the log, which is never rewritten. The panel loads only
// while open, and again when the log grows (the history poll, or the instance list changing).

import { escapeHtml } from './markdown.js';
import { tid, showInfo } from './dom.js';
import { api, S, category } from './state.js';
import { showError } from './errors.js';
import { upsertInstance } from './instances.js';
import { replaceImage } from './images.js';
import { STATUS_LABEL } from './image-list.js';

const OPEN_KEY = 'samkit.historyOpen';
const LIMIT = 100;

let scope = null; // null: the whole image; else an instance id
let seq = 0;
let seenInstances = new Set(); // instance ids met in the image's history (deleted ones too)

const panel = () => tid('history-panel');
const isOpen = () => panel().open;

const catName = (id) => category(id)?.name || `category ${id}`;
const timeOf = (at) => {
  const d = new Date(at);
  const today = new Date().toDateString() === d.toDateString();
  return today ? d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' }) : d.toLocaleString();
};

/** One line saying what `e` changed. */
export function describe(e) {
  const b = e.before || {};
  const a = e.after || {};
  if (e.entity === 'image') {
    if (e.action === 'create') return `image added to the project (${STATUS_LABEL[a.status] || a.status})`;
    if (e.action === 'status' || b.status !== a.status) return `status ${STATUS_LABEL[b.status] || b.status} → ${STATUS_LABEL[a.status] || a.status}`;
    return `image ${e.action}${a.missing ? ' (file missing)' : ''}`;
  }
  if (e.entity !== 'instance') return `${e.entity} ${e.action}`;
  const who = `#${e.entity_id}`;
  switch (e.action) {
    case 'create': return `accepted ${catName(a.category_id)} ${who}`;
    case 'import': return `imported ${catName(a.category_id)} ${who}`;
    case 'delete': return `deleted ${who}`;
    case 'restore': return `restored ${who}${a.deleted ? ' (deleted)' : ''}`;
    default: {
      const parts = [];
      if (b.category_id !== a.category_id) parts.push(`relabelled ${who} ${catName(b.category_id)} → ${catName(a.category_id)}`);
      if (b.area !== a.area || JSON.stringify(b.rle) !== JSON.stringify(a.rle)) parts.push(`changed the mask of ${who} (${b.area ?? '?'} → ${a.area ?? '?'} px)`);
      if (b.deleted !== a.deleted) parts.push(a.deleted ? `deleted ${who}` : `undeleted ${who}`);
      return parts.join('; ') || `updated ${who}`;
    }
  }
}

function query() {
  if (scope != null) return `?entity=instance&entity_id=${scope}&limit=${LIMIT}`;
  return `?image_id=${S.image.id}&limit=${LIMIT}`;
}

/** Load the panel again (no-op while it is closed or no image is open). */
export async function refreshHistory() {
  if (!S.image || !isOpen()) return;
  const my = ++seq;
  const image = S.image;
  let entries;
  try {
    entries = (await api.history(query())).entries;
  } catch (e) {
    if (my === seq) tid('history-list').innerHTML = `<li class="muted">history unavailable: ${escapeHtml(e.message)}</li>`;
    return;
  }
  if (my !== seq || S.image !== image) return;
  if (scope == null) seenInstances = new Set(entries.filter((e) => e.entity === 'instance').map((e) => e.entity_id));
  renderScope();
  render(entries);
}

function renderScope() {
  const ids = new Set([...seenInstances, ...S.instances.map((i) => i.id)]);
  if (scope != null) ids.add(scope);
  const live = new Set(S.instances.map((i) => i.id));
  const sel = tid('history-scope');
  sel.innerHTML = `<option value="">this image</option>${[...ids].sort((a, b) => a - b)
    .map((id) => `<option value="${id}">instance #${id}${live.has(id) ? '' : ' (deleted)'}</option>`).join('')}`;
  sel.value = scope == null ? '' : String(scope);
}

function render(entries) {
  const ul = tid('history-list');
  // Newest first: an entity's first entry here is its current state (nothing to restore).
  const current = new Set();
  ul.innerHTML = entries.length
    ? entries
        .map((e) => {
          const key = `${e.entity}:${e.entity_id}`;
          const isCurrent = !current.has(key);
          current.add(key);
          const restorable = !isCurrent && (e.entity === 'instance' || e.entity === 'image') && e.after;
          return `<li data-testid="history-entry" data-id="${e.id}" data-entity="${e.entity}" data-entity-id="${e.entity_id}" data-action="${escapeHtml(e.action)}">
            <span class="what">${escapeHtml(describe(e))}</span>
            <span class="by muted"><span title="${escapeHtml(e.at)}">${escapeHtml(timeOf(e.at))}</span> · ${escapeHtml(e.author)}</span>
            ${restorable ? `<button type="button" class="small" data-testid="history-restore" title="Put ${e.entity === 'image' ? 'the image status' : `instance #${e.entity_id}`} back as it was after this change">restore</button>` : isCurrent ? '<span class="muted now">now</span>' : ''}
          </li>`;
        })
        .join('')
    : '<li class="muted">No changes yet.</li>';
}

async function restore(entryId, entity, entityId) {
  try {
    const version = entity === 'instance' ? (await api.instance(entityId)).version : S.image.version;
    const r = await api.restoreHistory(entryId, version);
    if (r.entity === 'instance') {
      if (r.current.image_id === S.image?.id) upsertInstance(r.current);
      showInfo(`Instance #${entityId} restored${r.current.deleted ? ' (deleted, as it was then)' : ''}`, 4000);
    } else if (r.entity === 'image') {
      replaceImage(r.current);
      showInfo(`Image status restored: ${STATUS_LABEL[r.current.status] || r.current.status}`, 4000);
    }
  } catch (e) {
    showError(e, 'restore from history');
  }
  refreshHistory();
}

/** The history poll saw new entries (any author): reload if one is about the open image. */
export function noteHistory(entries) {
  if (S.image && entries.some((e) => e.image_id === S.image.id)) refreshHistory();
}

/** Show the history of instance `id` (null: the whole image) and open the panel. */
export function showHistoryOf(id) {
  scope = id;
  panel().open = true;
  refreshHistory();
}

export function bindHistoryPanel() {
  const p = panel();
  p.open = localStorage.getItem(OPEN_KEY) === '1';
  p.addEventListener('toggle', () => {
    localStorage.setItem(OPEN_KEY, p.open ? '1' : '0');
    refreshHistory();
  });
  tid('history-scope').addEventListener('change', (e) => {
    scope = e.target.value ? Number(e.target.value) : null;
    refreshHistory();
  });
  tid('history-refresh').addEventListener('click', refreshHistory);
  tid('history-list').addEventListener('click', (e) => {
    const b = e.target.closest('[data-testid="history-restore"]');
    if (!b) return;
    const li = b.closest('li');
    b.disabled = true;
    restore(Number(li.dataset.id), li.dataset.entity, Number(li.dataset.entityId));
  });
  // A click on an instance's #id in the list shows that instance's history.
  tid('instance-list').addEventListener('click', (e) => {
    const id = e.target.closest('.iname')?.closest('li[data-id]')?.dataset.id;
    if (id) showHistoryOf(Number(id));
  });
  // The instance list changes after every accept, edit and delete: the log has grown.
  let timer = 0;
  new MutationObserver(() => {
    clearTimeout(timer);
    timer = setTimeout(refreshHistory, 250);
  }).observe(tid('instance-list'), { childList: true });
}

/** A new image is open: back to its whole history. */
export function resetHistoryScope() {
  scope = null;
  seenInstances = new Set();
}
