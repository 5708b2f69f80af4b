// The project's annotation guidelines in the side panel: shown as safe Markdown, edited in
// place (PUT /api/project/guidelines with the version read, so a concurrent edit is a
// visible conflict and the text stays in the editor).
import { ApiError } from './api.js';
import { renderMarkdown } from './markdown.js';
import { tid, showInfo } from './dom.js';

export function renderGuidelines(project) {
  tid('guidelines').innerHTML = project.guidelines?.trim()
    ? renderMarkdown(project.guidelines)
    : '<p class="muted">No guidelines for this project.</p>';
}

/**
 * @param {object} o api; project() -> the project as last loaded; saved(project) (merge the
 *   answer); reload() -> Promise (loads the project again); showError(err, context).
 */
export function bindGuidelinesEditor(o) {
  const form = tid('guidelines-editor');
  const text = tid('guidelines-text');
  const view = tid('guidelines');
  const show = (editing) => {
    form.hidden = !editing;
    view.hidden = editing;
  };
  tid('guidelines-edit').addEventListener('click', () => {
    text.value = o.project()?.guidelines || '';
    show(true);
    text.focus();
  });
  form.querySelector('[data-act="cancel"]').addEventListener('click', () => show(false));
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    try {
      const project = await o.api.put('/api/project/guidelines', { guidelines: text.value, version: o.project().guidelines_version });
      o.saved(project);
      await o.reload();
      show(false);
      showInfo('Guidelines saved', 3000);
    } catch (err) {
      o.showError(err, 'guidelines'); // a 409 shows who changed them; the text stays in the editor
      if (err instanceof ApiError && err.isConflict) {
        await o.reload().catch(() => {});
      }
    }
  });
}
