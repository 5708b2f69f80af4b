// UI bindings and the keyboard: every button, select and list of the page wired to its
// action, the shortcuts (keys.js) mapped onto the feature modules, and the focus rule
// that keeps shortcuts working after mouse use. The image list, the import button and
// the toolbar are reachable with Tab.

import { bindReview } from './review.js';
import { $, tid, hideBanner } from './dom.js';
import { shortcutHandler } from './keys.js';
import { bindGuidelinesEditor } from './guidelines.js';
import { api, S, undo } from './state.js';
import { showError } from './errors.js';
import { viewer, proposals } from './canvas.js';
import { stepImage, reloadCurrent, setImageStatus, bindImageList } from './images.js';
import { cycleCandidate, clearPrompts, updatePromptUi } from './prompts.js';
import { setTool } from './brush.js';
import { acceptMask, deleteInstance, relabelInstance, renderInstances, toggleHideAll } from './instances.js';
import { selectCategory, bindCategories } from './categories.js';
import { openCategoryManager, bindCategoryManager } from './category-manager.js';
import { initLayout, togglePanel } from './layout.js';
import { bindHistoryPanel } from './history.js';
import { bindAttributesPanel } from './attributes.js';
import { loadProject, doExport, doImport } from './project.js';
import { initDisplay, toggleOutlineOnly } from './display.js';
import { bindInstanceRows } from './instances.js';
import { initMaskOptions } from './mask-options.js';
import { bindVolume, stepSlice } from './volume.js';

// UI bindings and keyboard
export function bindUi() {
  bindReview();
  document.querySelectorAll('.banner [data-action="dismiss"]').forEach((b) =>
    b.addEventListener('click', () => hideBanner(b.closest('.banner').dataset.testid.replace('banner-', ''))));
  document.querySelector('.banner.conflict [data-action="reload"]').addEventListener('click', async () => {
    hideBanner('conflict');
    try {
      await reloadCurrent();
    } catch (e) {
      showError(e, 'reload');
    }
  });
  initLayout(() => viewer.updateCursor());
  bindImageList();
  tid('prev-image').addEventListener('click', () => stepImage(-1));
  tid('next-image').addEventListener('click', () => stepImage(+1));
  tid('image-status').addEventListener('change', (e) => setImageStatus(e.target.value));
  document.querySelectorAll('[data-tool]').forEach((b) => b.addEventListener('click', () => setTool(b.dataset.tool)));
  bindCategories();
  bindCategoryManager();
  tid('add-category').addEventListener('click', () => openCategoryManager({ create: true }));
  bindHistoryPanel();
  bindAttributesPanel();
  bindVolume();
  tid('candidate-cycle').addEventListener('click', () => cycleCandidate(1));
  tid('accept').addEventListener('click', acceptMask);
  tid('clear').addEventListener('click', clearPrompts);
  tid('undo').addEventListener('click', () => runUndo(false));
  tid('redo').addEventListener('click', () => runUndo(true));
  tid('zoom-fit').addEventListener('click', () => viewer.fit());
  tid('outline-toggle').addEventListener('click', toggleOutlineOnly);
  tid('instances-hidden-all').addEventListener('click', toggleHideAll);
  initDisplay();
  bindInstanceRows(); // edit, bring to front, send to back
  initMaskOptions(() => updatePromptUi());
  tid('opacity').addEventListener('input', (e) => {
    S.opacity = Number(e.target.value);
    viewer.setOpacity(S.opacity);
  });
  tid('export-button').addEventListener('click', doExport);
  // The import button is a label for the hidden file input: Enter / Space open the picker.
  tid('import-button').addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') {
      e.preventDefault();
      tid('import-file').click();
    }
  });
  tid('import-file').addEventListener('change', (e) => {
    const f = e.target.files[0];
    e.target.value = '';
    if (f) doImport(f);
  });
  tid('help-button').addEventListener('click', toggleHelp);
  bindGuidelinesEditor({
    api,
    project: () => S.project,
    saved: (project) => (S.project = { ...S.project, ...project }),
    reload: loadProject,
    showError,
  });
  proposals.bind();
  const list = tid('instance-list');
  list.addEventListener('click', (e) => {
    const btn = e.target.closest('button[data-act]');
    if (!btn) return;
    const id = Number(btn.closest('li').dataset.id);
    if (btn.dataset.act === 'del') deleteInstance(id);
    if (btn.dataset.act === 'vis') {
      if (S.hidden.has(id)) S.hidden.delete(id);
      else S.hidden.add(id);
      renderInstances();
    }
  });
  list.addEventListener('change', (e) => {
    if (e.target.matches('select')) relabelInstance(Number(e.target.closest('li').dataset.id), Number(e.target.value));
  });
  window.addEventListener('keydown', onKey);
  // Keep keyboard shortcuts working after mouse use: a clicked button or a changed select
  // must not keep the focus (Enter would re-click the button, keys would go to the select).
  document.addEventListener('click', (e) => {
    const b = e.target.closest('button');
    if (b && e.detail > 0) b.blur();
  });
  document.addEventListener('change', (e) => {
    if (e.target.tagName === 'SELECT') e.target.blur();
  });
  window.addEventListener('unhandledrejection', (e) => showError(e.reason, 'unexpected error'));
}

function toggleHelp() {
  const d = $('#help');
  if (d.open) d.close();
  else d.showModal();
}

async function runUndo(redo) {
  try {
    await (redo ? undo.redo() : undo.undo());
  } catch (e) {
    showError(e, redo ? 'redo' : 'undo');
  }
}

/** Accept the pending mask (if any) and go to the next image; a failed accept stays. */
async function acceptAndNext() {
  if (S.prompt.mask) {
    await acceptMask();
    if (S.prompt.mask) return;
  }
  stepImage(+1);
}

const onKey = shortcutHandler({
  modalOpen: () => !!document.querySelector('dialog[open]'),
  undo: (redo) => runUndo(redo),
  accept: () => acceptMask(),
  acceptAndNext: () => acceptAndNext(),
  status: (st) => setImageStatus(st, { announce: true }),
  panel: (side) => togglePanel(side),
  categories: () => openCategoryManager(),
  search: () => {
    togglePanel('left', true);
    tid('image-search').focus();
  },
  clear: () => clearPrompts(),
  cycle: (dir) => cycleCandidate(dir),
  candidateCount: () => S.prompt.result?.candidates.length || 0,
  tool: (t) => setTool(t),
  brushSize: (f) => {
    S.brush = Math.min(256, Math.max(1, f > 1 ? Math.round(S.brush * f) + 1 : Math.round(S.brush * f)));
    updatePromptUi();
    viewer.draw();
  },
  image: (d) => stepImage(d),
  slice: (d) => stepSlice(d),
  windowTool: () => {
    if (tid('window-controls').hidden) return false;
    setTool(S.tool === 'window' ? 'prompt' : 'window');
    return true;
  },
  zoom: (f) => viewer.zoomBy(f),
  fit: () => viewer.fit(),
  toggleInstances: () => toggleHideAll(),
  help: () => toggleHelp(),
  outline: () => toggleOutlineOnly(),
  category: (i) => S.categories[i] && selectCategory(S.categories[i].id),
});
