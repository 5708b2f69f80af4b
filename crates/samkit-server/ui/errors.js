// Error reporting every module ends in: nothing fails silently. A 409 says who changed what
// and reloads what is shown.

import { ApiError } from './api.js';
import { escapeHtml } from './markdown.js';
import { showBanner } from './dom.js';
import { reloadCurrent } from './images.js';

/** Show `err` as an error toast (stays until dismissed); `actions` as in dom.showBanner. */
export function showError(err, context = '', actions = []) {
  console.error(context, err);
  if (err instanceof ApiError && err.isConflict) return showConflict(err);
  const msg = err instanceof Error ? err.message : String(err);
  showBanner('error', `${context ? `<b>${escapeHtml(context)}:</b> ` : ''}${escapeHtml(msg)}`, { actions });
}
/** 409: say who changed what and when, then reload what is shown so it is current again. */
function showConflict(err) {
  const c = (err.body && err.body.conflict) || {};
  const what = c.entity ? `This ${c.entity}${c.id != null ? ` (#${c.id})` : ''}` : 'This item';
  const who = c.author ? ` by ${c.author}` : ' by someone else';
  const when = c.updated_at ? ` at ${new Date(c.updated_at).toLocaleString()}` : '';
  const msg = `${what} was changed${who}${when} — your change was not saved. The list has been reloaded; apply your change again if still needed.`;
  showBanner('conflict', `${escapeHtml(msg)}<br><small>${escapeHtml(err.message)}</small>`);
  reloadCurrent().catch((e) => showError(e, 'reload after conflict'));
}
