// The category manager (toolbar +, K): create a category with a colour, recolour, rename,
// reorder (↑/↓: the order gives the hotkeys 1–9, the default category and YOLO's class
// indices) and delete — the dialog first says how many instances the category has and
// which category they move to. Every change is saved at once through the category API;
// a stale version is the usual 409 message and a reload.

import { escapeHtml } from './markdown.js';
import { tid, showInfo } from './dom.js';
import { api, S, category } from './state.js';
import { showError } from './errors.js';
import { setCategories, selectCategory, categoriesChanged } from './categories.js';
import { renderInstances } from './instances.js';
import { loadInstances } from './images.js';
import { isAdmin } from './session.js';

const dialog = () => tid('category-manager');
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;

export async function openCategoryManager({ create = false } = {}) {
  if (!isAdmin()) {
    showInfo('Categories are managed by the project\'s admins.', 4000);
    return;
  }
  const d = dialog();
  render();
  if (!d.open) d.showModal();
  if (create) tid('cm-new-name').focus();
  await refreshCounts();
}

/** The instance counts change with every accept (anyone's): read them again. */
async function refreshCounts() {
  try {
    setCategories(await api.categories());
  } catch (e) {
    showError(e, 'categories');
  }
}

function render() {
  const list = tid('cm-list');
  const n = S.categories.length;
  list.innerHTML = S.categories
    .map((c, i) => `<li data-testid="cm-row" data-id="${c.id}">
      <span class="key" title="${i < 9 ? `key ${i + 1} selects it` : 'no key (only the first nine have one)'}">${i < 9 ? i + 1 : ''}</span>
      <input type="color" data-testid="cm-color" value="${escapeHtml(c.color)}" aria-label="colour of ${escapeHtml(c.name)}">
      <input type="text" data-testid="cm-name" value="${escapeHtml(c.name)}" maxlength="100" aria-label="name">
      <span class="count muted" data-testid="cm-count">${plural(c.instance_count ?? 0, 'instance')}</span>
      <button type="button" data-act="up" data-testid="cm-up" title="Move up" ${i === 0 ? 'disabled' : ''}>↑</button>
      <button type="button" data-act="down" data-testid="cm-down" title="Move down" ${i === n - 1 ? 'disabled' : ''}>↓</button>
      <button type="button" data-act="delete" data-testid="cm-delete" title="Delete…" ${n === 1 ? 'disabled' : ''}>✕</button>
    </li>`)
    .join('');
  closeConfirm();
}

// Re-render on changes made elsewhere (another annotator, an import, a conflict reload),
// unless the user is typing in the dialog.
categoriesChanged.push(() => {
  const typing = document.activeElement?.matches?.('[data-testid="category-manager"] input[type="text"]');
  if (dialog().open && !typing) render();
});

async function apply(promise, context) {
  try {
    const result = await promise;
    setCategories(await api.categories());
    renderInstances();
    render();
    return result;
  } catch (e) {
    showError(e, context);
    render();
    return null;
  }
}

function closeConfirm() {
  const box = tid('cm-confirm');
  box.hidden = true;
  box.dataset.id = '';
}

async function askDelete(id) {
  await refreshCounts();
  const c = category(id);
  if (!c) return;
  const box = tid('cm-confirm');
  const others = S.categories.filter((o) => o.id !== c.id);
  const count = c.instance_count ?? 0;
  box.dataset.id = c.id;
  const target = others.find((o) => o.id === S.categoryId) || others[0];
  box.querySelector('.msg').innerHTML = count
    ? `Delete <b>${escapeHtml(c.name)}</b>? Its ${plural(count, 'instance')} (on every image) will be moved to:`
    : `Delete <b>${escapeHtml(c.name)}</b>? It has no instances.`;
  const sel = tid('cm-reassign');
  sel.hidden = !count;
  sel.innerHTML = others.map((o) => `<option value="${o.id}">${escapeHtml(o.name)}</option>`).join('');
  sel.value = String(target.id);
  box.hidden = false;
  tid('cm-confirm-delete').focus();
}

async function confirmDelete() {
  const c = category(Number(tid('cm-confirm').dataset.id));
  if (!c) return closeConfirm();
  const to = Number(tid('cm-reassign').value);
  const r = await apply(api.deleteCategory(c.id, c.version, c.instance_count ? to : null), `delete category ${c.name}`);
  if (!r) return;
  const moved = r.moved ? `; ${plural(r.moved, 'instance')} moved to ${category(to)?.name}` : '';
  showInfo(`Deleted category ${c.name}${moved}`, 5000);
  if (S.categoryId === c.id) selectCategory(to);
  if (r.moved) await loadInstances().catch((e) => showError(e, 'instances'));
}

async function move(id, d) {
  const ids = S.categories.map((c) => c.id);
  const k = ids.indexOf(id);
  if (k < 0 || k + d < 0 || k + d >= ids.length) return;
  [ids[k], ids[k + d]] = [ids[k + d], ids[k]];
  await apply(api.orderCategories(ids), 'reorder categories');
  // Keep the focus on the moved row's button, so ↑ ↑ ↑ works from the keyboard.
  tid('cm-list').querySelector(`li[data-id="${id}"] [data-act="${d < 0 ? 'up' : 'down'}"]:not(:disabled)`)?.focus();
}

export function bindCategoryManager() {
  const list = tid('cm-list');
  list.addEventListener('click', (e) => {
    const b = e.target.closest('button[data-act]');
    if (!b) return;
    const id = Number(b.closest('li').dataset.id);
    if (b.dataset.act === 'up') move(id, -1);
    if (b.dataset.act === 'down') move(id, +1);
    if (b.dataset.act === 'delete') askDelete(id);
  });
  list.addEventListener('change', (e) => {
    const id = Number(e.target.closest('li').dataset.id);
    const c = category(id);
    if (!c) return;
    if (e.target.type === 'color' && e.target.value !== c.color) {
      apply(api.patchCategory(id, { version: c.version, color: e.target.value }), `colour of ${c.name}`);
    } else if (e.target.type === 'text') {
      const name = e.target.value.trim();
      if (name && name !== c.name) apply(api.patchCategory(id, { version: c.version, name }), `rename ${c.name}`);
      else e.target.value = c.name;
    }
  });
  list.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && e.target.type === 'text') {
      e.preventDefault();
      e.target.blur(); // saves (change event)
    }
  });
  tid('cm-new').addEventListener('submit', async (e) => {
    e.preventDefault();
    const name = tid('cm-new-name').value.trim();
    if (!name) return;
    // The colour only when picked; else the server takes the next of its palette.
    const color = tid('cm-new-color').dataset.picked ? tid('cm-new-color').value : undefined;
    const cat = await apply(api.createCategory(name, color), 'new category');
    if (!cat) return;
    tid('cm-new-name').value = '';
    delete tid('cm-new-color').dataset.picked;
    selectCategory(cat.id);
    showInfo(`New category ${cat.name}${S.categories.indexOf(category(cat.id)) < 9 ? ` (key ${S.categories.indexOf(category(cat.id)) + 1})` : ''}`, 3000);
    tid('cm-new-name').focus();
  });
  tid('cm-new-color').addEventListener('input', (e) => (e.target.dataset.picked = '1'));
  tid('cm-confirm-delete').addEventListener('click', confirmDelete);
  tid('cm-confirm-cancel').addEventListener('click', closeConfirm);
}
