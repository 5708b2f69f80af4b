// The attributes panel (side panel, "Attributes"): what an annotator records about an
// instance beyond its mask and category — `iscrowd` (COCO's crowd flag), `occluded`, and
// free-form `name: value` pairs — exported to COCO (`iscrowd`, `attributes`). The instance
// is the one picked in the panel's drop-down, or the last row clicked, or the one being
// edited. Names used by other instances of the same category are offered as suggestions,
// so a team converges on one vocabulary per category. Save writes the whole set as the
// instance's next version (PATCH with the version read; a change made meanwhile is a
// conflict, not overwritten); undo writes the previous set back.
//
// Values are typed from what is written: true/false → boolean, a number → number, anything
// else → text (the server checks the set: at most 32 names, text ≤ 500 characters).

import { tid, showInfo } from './dom.js';
import { escapeHtml } from './markdown.js';
import { api, S, undo, category } from './state.js';
import { showError } from './errors.js';
import { upsertInstance } from './instances.js';

const FLAGS = ['iscrowd', 'occluded'];
let chosenId = null;

const current = () => S.instances.find((i) => i.id === chosenId) || null;
const attrsOf = (inst) => (inst?.attributes && typeof inst.attributes === 'object' ? inst.attributes : {});

/** A value as the annotator wrote it → the JSON value stored. */
export function typedValue(text) {
  const t = text.trim();
  if (t === 'true' || t === 'false') return t === 'true';
  if (t !== '' && /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(t)) return Number(t);
  return text;
}

function row(name = '', value = '') {
  const li = document.createElement('li');
  li.dataset.testid = 'attr-row';
  li.innerHTML = `<input data-testid="attr-name" list="attr-suggestions" placeholder="name" maxlength="64" value="${escapeHtml(name)}">
    <input data-testid="attr-value" placeholder="value" maxlength="500" value="${escapeHtml(value)}">
    <button type="button" class="small" data-testid="attr-remove" title="remove this attribute">✕</button>`;
  li.querySelector('[data-testid="attr-remove"]').addEventListener('click', () => li.remove());
  return li;
}

/** Shows the chosen instance's attributes (or what to do when there is none). */
export function renderAttributes() {
  const select = tid('attr-instance');
  const live = S.instances.map((i) => i.id);
  if (!live.includes(chosenId)) chosenId = S.prompt.editing?.id ?? live[live.length - 1] ?? null;
  select.innerHTML = S.instances.length
    ? S.instances.map((i) => `<option value="${i.id}" ${i.id === chosenId ? 'selected' : ''}>#${i.id} ${escapeHtml(category(i.category_id)?.name || '')}</option>`).join('')
    : '<option value="">no instance yet</option>';
  const inst = current();
  tid('attr-form').hidden = !inst;
  if (!inst) return;
  const attrs = attrsOf(inst);
  for (const f of FLAGS) tid(`attr-${f}`).checked = attrs[f] === true;
  const list = tid('attr-list');
  list.replaceChildren(
    ...Object.entries(attrs)
      .filter(([k]) => !FLAGS.includes(k))
      .map(([k, v]) => row(k, String(v))),
  );
  // Names other instances of this category use (this image), as suggestions.
  const names = new Set();
  for (const other of S.instances) {
    if (other.category_id !== inst.category_id) continue;
    for (const k of Object.keys(attrsOf(other))) if (!FLAGS.includes(k)) names.add(k);
  }
  tid('attr-suggestions').innerHTML = [...names].map((n) => `<option value="${escapeHtml(n)}">`).join('');
  tid('attr-version').textContent = `version ${inst.version}`;
}

/** The set the form holds; an error message when two rows share a name. */
function formAttributes() {
  const out = {};
  for (const f of FLAGS) if (tid(`attr-${f}`).checked) out[f] = true;
  for (const li of tid('attr-list').querySelectorAll('li')) {
    const name = li.querySelector('[data-testid="attr-name"]').value.trim();
    const value = li.querySelector('[data-testid="attr-value"]').value;
    if (!name && !value.trim()) continue;
    if (!name) throw new Error('an attribute has a value but no name');
    if (FLAGS.includes(name) || name in out) throw new Error(`"${name}" is given twice`);
    out[name] = typedValue(value);
  }
  return out;
}

async function write(id, attributes) {
  const inst = S.instances.find((i) => i.id === id);
  const saved = await api.patchInstance(id, { version: inst.version, attributes });
  upsertInstance(saved);
  return saved;
}

async function save() {
  const inst = current();
  if (!inst) return;
  let next;
  try {
    next = formAttributes();
  } catch (e) {
    showInfo(`Not saved: ${e.message}.`, 5000);
    return;
  }
  const before = { ...attrsOf(inst) };
  const id = inst.id;
  try {
    const saved = await write(id, next);
    undo.push({ label: 'attributes', undo: () => write(id, before), redo: () => write(id, next) });
    showInfo(`Saved the attributes of #${id} as version ${saved.version} — Undo (Ctrl+Z) restores the previous ones`, 4000);
  } catch (e) {
    showError(e, `could not save the attributes of #${id}`);
  }
  renderAttributes();
}

export function bindAttributesPanel() {
  tid('attr-instance').addEventListener('change', (e) => {
    chosenId = Number(e.target.value) || null;
    renderAttributes();
  });
  tid('attr-add').addEventListener('click', () => {
    const li = row();
    tid('attr-list').append(li);
    li.querySelector('input').focus();
  });
  tid('attr-form').addEventListener('submit', (e) => {
    e.preventDefault();
    save();
  });
  // A click on an instance's row (not on its buttons) makes it the panel's instance.
  tid('instance-list').addEventListener('click', (e) => {
    const li = e.target.closest('li[data-id]');
    if (!li || e.target.closest('button, select')) return;
    chosenId = Number(li.dataset.id);
    renderAttributes();
  });
  // The instance list is rebuilt whenever instances change (this image, a save, undo, a
  // poll): the panel follows it, unless the annotator is typing in it.
  new MutationObserver(() => {
    if (!tid('attr-form').contains(document.activeElement)) renderAttributes();
  }).observe(tid('instance-list'), { childList: true });
}
