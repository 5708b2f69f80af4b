// The project: its name, guidelines, export/import formats and skipped files; export (a
// download) and import (an upload, then everything shown is reloaded).

import { escapeHtml } from './markdown.js';
import { tid, fmtInt, showInfo, saveResponse } from './dom.js';
import { renderGuidelines } from './guidelines.js';
import { api, S } from './state.js';
import { showError } from './errors.js';
import { setCategories } from './categories.js';
import { reloadCurrent } from './images.js';

const DEFAULT_EXPORT_FORMATS = ['coco', 'coco-polygons', 'png', 'npy', 'yolo', 'voc', 'nifti', 'nifti-instances'];

export async function loadProject() {
  S.project = await api.project();
  tid('project-name').textContent = S.project.name || '';
  document.title = `${S.project.name || 'project'} — samkit`;
  renderGuidelines(S.project);
  setCategories(S.project.categories || (await api.categories()));
  const formats = S.project.export_formats || DEFAULT_EXPORT_FORMATS;
  tid('export-format').innerHTML = formats.map((f) => `<option value="${escapeHtml(f)}">${escapeHtml(f)}</option>`).join('');
  if (S.project.import_formats) {
    tid('import-format').innerHTML = S.project.import_formats
      .map((f) => `<option value="${escapeHtml(f)}">${escapeHtml(f)}</option>`).join('');
  }
  const skipped = S.project.skipped || [];
  const box = tid('skipped-files');
  box.hidden = skipped.length === 0;
  box.querySelector('.n').textContent = skipped.length;
  box.querySelector('ul').innerHTML = skipped
    .map((s) => `<li><code>${escapeHtml(s.path)}</code> — ${escapeHtml(s.reason)}</li>`).join('');
}

export async function doExport() {
  const format = tid('export-format').value;
  const btn = tid('export-button');
  btn.disabled = true;
  btn.textContent = 'Exporting…';
  try {
    // A team project can export only the work a reviewer approved.
    const approved = tid('export-approved').checked && document.body.dataset.mode === 'accounts';
    const status = approved ? '&status=approved' : '';
    const res = await api.request('GET', `/api/export?format=${encodeURIComponent(format)}${status}`, undefined, { raw: true });
    const fallback = `${S.project?.name || 'samkit'}-${format}${format.startsWith('coco') ? '.json' : '.zip'}`;
    const { filename, size } = await saveResponse(res, fallback);
    showInfo(`Exported ${filename} (${fmtInt(size)} bytes)`);
  } catch (e) {
    showError(e, 'export');
  } finally {
    btn.disabled = false;
    btn.textContent = '⬇ Export';
  }
}

export async function doImport(file) {
  const format = tid('import-format').value;
  try {
    const r = await api.importFile(format, file);
    const skipped = r.skipped?.length ? `, ${r.skipped.length} skipped (${r.skipped.slice(0, 3).map((s) => `${s.item}: ${s.reason}`).join('; ')})` : '';
    const n = (k, word) => `${k} ${word}${k === 1 ? '' : 's'}`;
    showInfo(`Imported ${n(r.instances_added, 'instance')} into ${n(r.images_matched, 'image')}, ${n(r.categories_added, 'new category').replace(/ys$/, 'ies')}${skipped}`, 12000);
    await reloadCurrent();
  } catch (e) {
    showError(e, `import ${file.name}`);
  }
}
