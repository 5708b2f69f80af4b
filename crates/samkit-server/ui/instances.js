// Accepted instances: accepting the pending mask (undo deletes it on the server, redo
// restores it; while an instance is edited, edit.js saves it as its next version), the
// instance list (relabel, hide, delete, edit, z-order, each with undo), and the layer that
// draws them all on the canvas in z-order (ascending `z`, then id: later rows on top).

import { reviewOnInstances } from './review.js';
import { decodeRle, encodeRle, maskArea } from './rle.js';
import { escapeHtml } from './markdown.js';
import { tid, fmtInt, showInfo } from './dom.js';
import { compositeInstances } from './paint.js';
import { api, S, EMPTY_PROMPT, undo, category, newClientId } from './state.js';
import { showError } from './errors.js';
import { viewer } from './canvas.js';
import { setPrompt } from './prompts.js';
import { syncImageCount, bumpImageStatus } from './images.js';
import { refreshHover } from './display.js';
import { maskOptions } from './mask-options.js';
import { excludeOthers, overlapCount, paintOverlap } from './overlap.js';
import { startEdit, saveEdit } from './edit.js';

export async function acceptMask() {
  const p = S.prompt;
  if (!p.mask || !S.image || S.image.missing) return;
  const { width: w, height: h } = S.image;
  if (maskArea(p.mask) === 0) {
    showError(new Error('the mask is empty; click the object or paint with the brush first'), 'accept');
    return;
  }
  // "Exclude existing": the pixels other visible instances already have stay theirs.
  const excluded = maskOptions.exclude ? overlapCount(p.mask) : 0;
  const mask = excluded ? excludeOthers(p.mask) : p.mask;
  if (maskArea(mask) === 0) {
    showError(new Error('every pixel of the mask belongs to existing instances already; turn off "exclude existing instances" to overlap them'), 'accept');
    return;
  }
  if (p.editing) {
    await saveEdit(p, mask);
    return;
  }
  const image = S.image;
  const body = {
    category_id: S.categoryId,
    rle: encodeRle(mask, w, h),
    score: p.edited ? null : p.iou,
    prompts: { points: p.points, box: p.box, edited: p.edited || undefined, excluded_px: excluded || undefined },
    client_id: newClientId(),
  };
  let inst;
  try {
    inst = await api.createInstance(image.id, body);
  } catch (e) {
    showError(e, 'could not save the instance');
    return;
  }
  if (!S.image || S.image.id !== image.id) return;
  upsertInstance(inst);
  S.predictSeq++;
  setPrompt(EMPTY_PROMPT);
  const action = {
    label: 'accept',
    id: inst.id,
    undo: async () => {
      const cur = S.instances.find((i) => i.id === action.id);
      const gone = await api.deleteInstance(action.id, cur ? cur.version : inst.version);
      removeInstance(gone.id, gone);
      S.predictSeq++;
      setPrompt(p);
    },
    redo: async () => {
      const del = S.deletedVersions.get(action.id);
      const back = await api.restoreInstance(action.id, del);
      upsertInstance(back);
      S.predictSeq++;
      setPrompt(EMPTY_PROMPT);
    },
  };
  undo.push(action);
  bumpImageStatus();
}

export function upsertInstance(inst) {
  const i = S.instances.findIndex((x) => x.id === inst.id);
  if (inst.deleted) {
    if (i >= 0) S.instances.splice(i, 1);
  } else if (i >= 0) {
    S.instances[i] = inst;
  } else {
    S.instances.push(inst);
  }
  S.instances.sort(drawOrder);
  syncImageCount();
  renderInstances();
}

/** "812 px", "58.7k px", "1.2M px": the list's narrow area column (exact in its title). */
function compactArea(n) {
  if (n < 10000) return `${fmtInt(n)} px`;
  if (n < 1e6) return `${(n / 1000).toFixed(n < 1e5 ? 1 : 0)}k px`;
  return `${(n / 1e6).toFixed(1)}M px`;
}

/** Draw order: ascending `z`, then id (the store lists them so). */
export const drawOrder = (a, b) => (a.z ?? 0) - (b.z ?? 0) || a.id - b.id;

export function removeInstance(id, deletedRow) {
  if (deletedRow) S.deletedVersions.set(id, deletedRow.version);
  S.instances = S.instances.filter((x) => x.id !== id);
  syncImageCount();
  renderInstances();
}

export async function deleteInstance(id) {
  const inst = S.instances.find((i) => i.id === id);
  if (!inst) return;
  try {
    const gone = await api.deleteInstance(id, inst.version);
    removeInstance(id, gone);
    const action = {
      label: 'delete',
      undo: async () => upsertInstance(await api.restoreInstance(id, S.deletedVersions.get(id))),
      redo: async () => {
        const cur = S.instances.find((i) => i.id === id);
        const g = await api.deleteInstance(id, cur.version);
        removeInstance(id, g);
      },
    };
    undo.push(action);
    // No confirmation before: the delete is undoable, and the toast says how.
    const name = `${category(inst.category_id)?.name || 'instance'} #${id}`;
    showInfo(`Deleted ${name} — Undo (Ctrl+Z) restores it`, 8000, [{
      label: 'Undo',
      testid: 'toast-undo',
      run: () => {
        // Only while it is still the last step: the button must not undo something newer.
        if (undo.done[undo.done.length - 1] === action) undo.undo().catch((e) => showError(e, 'undo'));
      },
    }]);
  } catch (e) {
    showError(e, 'delete');
  }
}

export async function relabelInstance(id, categoryId) {
  const inst = S.instances.find((i) => i.id === id);
  if (!inst || inst.category_id === categoryId) return;
  const old = inst.category_id;
  const patch = async (cat) => {
    const cur = S.instances.find((i) => i.id === id);
    upsertInstance(await api.patchInstance(id, { version: cur.version, category_id: cat }));
  };
  try {
    await patch(categoryId);
    undo.push({ label: 'relabel', undo: () => patch(old), redo: () => patch(categoryId) });
  } catch (e) {
    showError(e, 'relabel');
    renderInstances();
  }
}

/**
 * Draw `id` over every other instance of the image (`front`) or under them: its `z` becomes
 * one more than the highest (one less than the lowest), as CVAT's "bring forward" does.
 */
export async function restack(id, front) {
  const inst = S.instances.find((i) => i.id === id);
  if (!inst) return;
  const others = S.instances.filter((i) => i.id !== id).map((i) => i.z ?? 0);
  if (!others.length) return;
  const z = front ? Math.max(...others) + 1 : Math.min(...others) - 1;
  const old = inst.z ?? 0;
  const set = async (value) => {
    const cur = S.instances.find((i) => i.id === id);
    upsertInstance(await api.patchInstance(id, { version: cur.version, z: value }));
  };
  try {
    await set(z);
    undo.push({ label: front ? 'bring to front' : 'send to back', undo: () => set(old), redo: () => set(z) });
  } catch (e) {
    showError(e, front ? 'bring to front' : 'send to back');
  }
}

/** The list's own actions: ✎ edit (or a double click on the row), ▲ front, ▼ back. */
export function bindInstanceRows() {
  const list = tid('instance-list');
  list.addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-act]');
    if (!btn) return;
    const id = Number(btn.closest('li').dataset.id);
    if (btn.dataset.act === 'edit') startEdit(id);
    if (btn.dataset.act === 'front') restack(id, true);
    if (btn.dataset.act === 'back') restack(id, false);
  });
  list.addEventListener('dblclick', (e) => {
    const li = e.target.closest('li[data-id]');
    // Not on the #id: a click there opens the instance's history.
    if (li && !e.target.closest('button, select, .iname')) startEdit(Number(li.dataset.id));
  });
}

export function instanceMask(inst) {
  const key = `${inst.id}:${inst.version}`;
  let m = S.maskCache.get(key);
  if (!m) {
    m = decodeRle(inst.rle);
    S.maskCache.set(key, m);
  }
  return m;
}

let instLayer = null;
export function paintInstances() {
  if (!S.image || S.image.missing) return;
  paintOverlap(); // the instances the pending mask may overlap changed too
  const { width: w, height: h } = S.image;
  // The instance being edited is shown as the pending mask instead.
  const editing = S.prompt.editing?.id;
  const visible = S.hideAll ? [] : S.instances.filter((i) => !S.hidden.has(i.id) && i.id !== editing);
  if (!visible.length) {
    viewer.setInstancesLayer(null);
    refreshHover();
    return;
  }
  if (!instLayer || instLayer.width !== w || instLayer.height !== h) instLayer = new OffscreenCanvas(w, h);
  const img = compositeInstances(visible, w, h, instanceMask, (inst) => category(inst.category_id)?.color || '#888888', 255);
  instLayer.getContext('2d').putImageData(img, 0, 0);
  viewer.setInstancesLayer(instLayer, unionBbox(visible));
  refreshHover();
}

/** [x, y, w, h] holding every instance of `list` (null if one has no bbox). */
function unionBbox(list) {
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const { bbox: b } of list) {
    if (!Array.isArray(b) || b.length !== 4) return null;
    x0 = Math.min(x0, b[0]);
    y0 = Math.min(y0, b[1]);
    x1 = Math.max(x1, b[0] + b[2]);
    y1 = Math.max(y1, b[1] + b[3]);
  }
  return [Math.floor(x0) - 1, Math.floor(y0) - 1, Math.ceil(x1 - x0) + 3, Math.ceil(y1 - y0) + 3];
}

/** H: hide / show every instance on the canvas; the list says so while they are hidden. */
export function toggleHideAll() {
  S.hideAll = !S.hideAll;
  renderInstances();
}

export function renderInstances() {
  reviewOnInstances();
  const ul = tid('instance-list');
  tid('instance-count').textContent = S.instances.length ? `(${S.instances.length})` : '';
  tid('instances-hidden-all').hidden = !S.hideAll;
  ul.classList.toggle('all-hidden', S.hideAll);
  const options = (sel) =>
    S.categories.map((c) => `<option value="${c.id}" ${c.id === sel ? 'selected' : ''}>${escapeHtml(c.name)}</option>`).join('');
  ul.innerHTML = S.instances.length
    ? S.instances
        .map((inst) => {
          const cat = category(inst.category_id);
          const hidden = S.hidden.has(inst.id);
          const score = inst.score != null ? ` · score ${inst.score.toFixed(2)} (SAM's predicted IoU)` : '';
          const editing = S.prompt.editing?.id === inst.id;
          return `<li data-testid="instance-item" data-id="${inst.id}" data-category="${escapeHtml(cat?.name || '')}" data-version="${inst.version}" data-z="${inst.z ?? 0}" class="${hidden ? 'hidden' : ''} ${S.hideAll ? 'dimmed' : ''} ${editing ? 'editing' : ''}">
            <span class="swatch" data-color="${escapeHtml(cat?.color || '#888')}"></span>
            <span class="iname" title="version ${inst.version}; drawn over the rows above it">#${inst.id}${editing ? ' <b class="editing-tag" data-testid="instance-editing">editing</b>' : ''}</span>
            <select data-testid="instance-category" title="relabel">${options(inst.category_id)}</select>
            <span class="area muted" title="${fmtInt(inst.area)} px, by ${escapeHtml(inst.updated_by || inst.author || '')}${score}">${compactArea(inst.area)}</span>
            <button type="button" data-testid="instance-edit" data-act="edit" title="edit: refine with clicks, brush and eraser, Enter saves a new version (or Ctrl+click it on the canvas)">✎</button>
            <span class="zorder"><button type="button" data-testid="instance-front" data-act="front" title="bring to front (drawn over the others)">▲</button><button type="button" data-testid="instance-back" data-act="back" title="send to back (drawn under the others)">▼</button></span>
            <button type="button" data-testid="instance-visibility" data-act="vis" title="show / hide">${hidden ? '◌' : '◉'}</button>
            <button type="button" data-testid="instance-delete" data-act="del" title="delete">✕</button>
          </li>`;
        })
        .join('')
    : '<li class="muted empty">No instances yet. Click an object, then press Enter.</li>';
  // Colours are set through the DOM, not a style attribute: the Content-Security-Policy
  // allows no inline styles.
  for (const sw of ul.querySelectorAll('.swatch[data-color]')) sw.style.background = sw.dataset.color;
  paintInstances();
}
