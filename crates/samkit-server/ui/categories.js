// The current category: the toolbar's select (1–9 pick by place in the project's order),
// its colour swatch, and the chip on the canvas that names the category the next accepted
// mask gets. Going to another image keeps the category only while "keep" is on (the chip
// then says it was kept from the previous image); with "keep" off each image starts with
// category 1. The current category and "keep" are remembered in localStorage. Creating,
// renaming, colouring, ordering and deleting categories: category-manager.js.

import { escapeHtml } from './markdown.js';
import { tid } from './dom.js';
import { S, category } from './state.js';
import { paintCurrentMask } from './prompts.js';

const CURRENT_KEY = 'samkit.category';
const KEEP_KEY = 'samkit.keepCategory';
const KEPT_NOTE_MS = 4000;

let keep = localStorage.getItem(KEEP_KEY) !== '0';
let noteTimer = 0;
let openedBefore = false; // an image was opened before (the category can be carried over)

export function setCategories(cats) {
  S.categories = cats;
  if (S.categoryId == null) S.categoryId = Number(localStorage.getItem(CURRENT_KEY)) || null;
  if (!cats.some((c) => c.id === S.categoryId)) S.categoryId = cats[0]?.id ?? null;
  const sel = tid('category-select');
  sel.innerHTML = cats
    .map((c, i) => `<option value="${c.id}">${i < 9 ? `${i + 1}. ` : ''}${escapeHtml(c.name)}</option>`).join('');
  if (S.categoryId != null) sel.value = String(S.categoryId);
  showCurrent();
  for (const f of categoriesChanged) f();
}

/** Called after every change of the category list (the manager re-renders). */
export const categoriesChanged = [];

export function selectCategory(id) {
  if (!category(id)) return;
  S.categoryId = id;
  localStorage.setItem(CURRENT_KEY, String(id));
  tid('category-select').value = String(id);
  showCurrent();
  paintCurrentMask();
}

/** The swatch beside the select and the chip on the canvas; `note` is said on the chip. */
function showCurrent(note = '') {
  const c = category(S.categoryId);
  const color = c?.color || '#888888';
  tid('category-swatch').style.background = color;
  const chip = tid('category-chip');
  chip.hidden = !c;
  if (!c) return;
  chip.querySelector('.swatch').style.background = color;
  chip.querySelector('.name').textContent = c.name;
  const k = S.categories.indexOf(c);
  chip.querySelector('.key').textContent = k < 9 ? String(k + 1) : '';
  chip.querySelector('.note').textContent = note;
  chip.classList.toggle('noted', !!note);
  clearTimeout(noteTimer);
  if (note) noteTimer = setTimeout(() => showCurrent(), KEPT_NOTE_MS);
}

/** Another image was opened: keep the category (and say so) or start again from category 1. */
export function categoryOnImageOpen() {
  if (!S.categories.length) return;
  const carried = openedBefore && S.categoryId !== S.categories[0].id;
  openedBefore = true;
  if (!keep) {
    if (S.categoryId !== S.categories[0].id) selectCategory(S.categories[0].id);
    else showCurrent();
    return;
  }
  showCurrent(carried ? 'kept from the previous image' : '');
}

function setKeep(on) {
  keep = on;
  localStorage.setItem(KEEP_KEY, on ? '1' : '0');
  tid('category-pin').setAttribute('aria-pressed', String(on));
}

export function bindCategories() {
  setKeep(keep);
  tid('category-select').addEventListener('change', (e) => selectCategory(Number(e.target.value)));
  tid('category-pin').addEventListener('click', () => setKeep(!keep));
}
