// Categories: the toolbar's category select (1–9 pick one), the current category (kept in
// localStorage) and creating a new one.

import { escapeHtml } from './markdown.js';
import { tid } from './dom.js';
import { api, S, category } from './state.js';
import { showError } from './errors.js';
import { paintCurrentMask } from './prompts.js';
import { renderInstances } from './instances.js';

export function setCategories(cats) {
  S.categories = cats;
  if (S.categoryId == null) S.categoryId = Number(localStorage.getItem('samkit.category')) || null;
  if (!cats.some((c) => c.id === S.categoryId)) S.categoryId = cats[0]?.id ?? null;
  const sel = tid('category-select');
  sel.innerHTML = cats
    .map((c, i) => `<option value="${c.id}">${i < 9 ? `${i + 1}. ` : ''}${escapeHtml(c.name)}</option>`).join('');
  if (S.categoryId != null) sel.value = String(S.categoryId);
}

// categories, export, import, status
export async function addCategory() {
  const name = prompt('New category name');
  if (!name || !name.trim()) return;
  try {
    const cat = await api.createCategory(name.trim());
    setCategories([...S.categories, cat]);
    selectCategory(cat.id);
    renderInstances();
  } catch (e) {
    showError(e, 'new category');
  }
}

export function selectCategory(id) {
  if (!category(id)) return;
  S.categoryId = id;
  localStorage.setItem('samkit.category', String(id));
  tid('category-select').value = String(id);
  paintCurrentMask();
}
