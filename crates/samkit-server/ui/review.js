// The review panel of a team project (accounts): the open image's work — whose it is, its
// state, a rejection's comment — with Submit for the annotator and Approve / Reject (with
// a comment) / Reopen for reviewers, who also pick which annotator's work to look at on an
// image several annotate. Review comments on instances are listed here and drawn on the
// canvas beside their instance. The server decides what is allowed; this only shows it.

import { escapeHtml } from './markdown.js';
import { tid, showInfo } from './dom.js';
import { api, S, category } from './state.js';
import { showError } from './errors.js';
import { session } from './session.js';
import { viewer } from './canvas.js';
import { loadInstances, renderImageList } from './images.js';
import { bindReport } from './report.js';

const R = { imageId: null, assignments: [], comments: [] };

/** The assignment whose instances the page shows (a reviewer's pick), or null: all. */
export const viewedAssignment = () => (session.role !== 'annotator' && R.viewing) || null;

const isReviewer = () => session.role === 'reviewer' || session.role === 'admin';
const label = (s) => s.replace('_', ' ');

/** The image opened: read its work and comments. */
export async function reviewOnImageOpen() {
  if (session.mode !== 'accounts' || !S.image) return;
  const id = S.image.id;
  R.imageId = id;
  R.viewing = null;
  try {
    const [a, c] = await Promise.all([
      api.get(`/api/assignments?image=${id}`),
      api.get(`/api/images/${id}/comments`),
    ]);
    if (R.imageId !== id) return;
    R.assignments = a.assignments;
    R.comments = c.comments;
  } catch (e) {
    showError(e, 'review state');
  }
  render();
}

function selected() {
  if (session.role === 'annotator') return R.assignments[0] || null;
  return R.assignments.find((a) => a.id === R.viewing) || R.assignments[0] || null;
}

function render() {
  const a = selected();
  const state = tid('review-state');
  if (!a) {
    state.textContent = 'not assigned to anyone';
  } else {
    const mine = a.user_name === session.user;
    state.innerHTML = `${mine ? 'your work' : escapeHtml(a.user_name)} · <b data-state="${a.state}">${label(a.state)}</b>`;
  }
  const comment = tid('review-comment');
  comment.hidden = !(a && a.state === 'rejected' && a.comment);
  comment.textContent = a?.comment ? `Sent back by ${a.updated_by}: ${a.comment}` : '';
  const mine = a && a.user_name === session.user;
  tid('review-submit').hidden = !(mine && ['assigned', 'in_progress', 'rejected'].includes(a.state));
  tid('review-approve').hidden = !(isReviewer() && a?.state === 'submitted');
  tid('review-reject').hidden = !(isReviewer() && a?.state === 'submitted');
  tid('review-reopen').hidden = !(isReviewer() && ['submitted', 'approved'].includes(a?.state));
  const work = tid('review-work');
  work.hidden = !(isReviewer() && R.assignments.length > 1);
  work.innerHTML = `<option value="">everyone's work</option>${R.assignments
    .map((x) => `<option value="${x.id}"${x.id === R.viewing ? ' selected' : ''}>${escapeHtml(x.user_name)} — ${label(x.state)}</option>`)
    .join('')}`;
  renderComments();
}

function renderComments() {
  const list = tid('review-comments');
  list.innerHTML = R.comments
    .map((c) => `<li data-instance="${c.instance_id}"><b>${escapeHtml(c.author)}</b> on #${c.instance_id}: ${escapeHtml(c.text)}</li>`)
    .join('');
  const pick = tid('review-comment-instance');
  pick.innerHTML = S.instances
    .map((i) => `<option value="${i.id}">#${i.id} ${escapeHtml(category(i.category_id)?.name || '')}</option>`)
    .join('');
  tid('review-comment-form').hidden = !S.instances.length;
  placeCommentMarkers();
}

/** Comment markers over the canvas, at the top-left corner of their instance's box. */
export function placeCommentMarkers() {
  const layer = tid('comment-markers');
  if (!layer) return;
  const byInstance = new Map();
  for (const c of R.comments) {
    if (R.imageId !== S.image?.id) break;
    byInstance.set(c.instance_id, [...(byInstance.get(c.instance_id) || []), c]);
  }
  const stage = tid('stage').getBoundingClientRect();
  const shown = [...byInstance].filter(([id]) => S.instances.some((i) => i.id === id));
  // One element per commented instance, kept between paints (this runs on every one).
  while (layer.children.length > shown.length) layer.lastChild.remove();
  shown.forEach(([id, cs], k) => {
    let el = layer.children[k];
    if (!el) {
      el = document.createElement('div');
      el.className = 'comment-marker';
      el.dataset.testid = 'comment-marker';
      layer.append(el);
    }
    const inst = S.instances.find((i) => i.id === id);
    const last = cs[cs.length - 1];
    const text = `${last.author}: ${last.text.slice(0, 40)}${cs.length > 1 ? ` (+${cs.length - 1})` : ''}`;
    if (el.textContent !== text) el.textContent = text;
    el.title = cs.map((c) => `${c.author}: ${c.text}`).join('\n');
    // Positions go through the CSSOM: the page's CSP refuses style attributes.
    const p = viewer.toClient(inst.bbox[0], inst.bbox[1]);
    el.style.left = `${Math.round(p.x - stage.left)}px`;
    el.style.top = `${Math.round(p.y - stage.top)}px`;
  });
}

async function act(action, comment = '') {
  const shown = selected();
  if (!shown) return;
  try {
    // The work may have moved since it was shown (the annotator's first change starts
    // it, another reviewer acts): act on what it is now, unless its state changed.
    const fresh = (await api.get(`/api/assignments?image=${R.imageId}`)).assignments;
    R.assignments = fresh;
    const a = fresh.find((x) => x.id === shown.id);
    if (!a || (a.state !== shown.state && !(action === 'submit' && a.state === 'in_progress'))) {
      showInfo(`This work is now ${a ? label(a.state) : 'gone'}; look again before you act.`, 5000);
      render();
      return;
    }
    const after = await api.post(`/api/assignments/${a.id}/${action}`, { version: a.version, comment });
    R.assignments = R.assignments.map((x) => (x.id === after.id ? after : x));
    showInfo(`${label(after.state)[0].toUpperCase()}${label(after.state).slice(1)}: ${S.image.name}`, 3000);
    const images = await api.images();
    S.images = images;
    S.image = images.find((im) => im.id === S.image.id) || S.image;
    tid('image-status').value = S.image.status;
    renderImageList();
  } catch (e) {
    showError(e, `could not ${action}`);
  }
  render();
}

export function bindReview() {
  bindReport();
  tid('review-submit').addEventListener('click', () => act('submit'));
  tid('review-approve').addEventListener('click', () => act('approve'));
  tid('review-reopen').addEventListener('click', () => act('reopen'));
  tid('review-reject').addEventListener('click', () => {
    tid('review-reject-form').hidden = false;
    tid('review-reject-text').focus();
  });
  tid('review-reject-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = tid('review-reject-text').value.trim();
    if (!text) {
      showInfo('Say what to fix: the annotator reads this comment.', 4000);
      return;
    }
    tid('review-reject-form').hidden = true;
    tid('review-reject-text').value = '';
    await act('reject', text);
  });
  tid('review-work').addEventListener('change', async (e) => {
    R.viewing = Number(e.target.value) || null;
    await loadInstances();
    render();
  });
  tid('review-comment-form').addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = tid('review-comment-text').value.trim();
    const id = Number(tid('review-comment-instance').value);
    if (!text || !id) return;
    try {
      const c = await api.post(`/api/instances/${id}/comments`, { text });
      R.comments.push(c);
      tid('review-comment-text').value = '';
      renderComments();
    } catch (err) {
      showError(err, 'could not add the comment');
    }
  });
}

/** The instance list changed: the comment form's instances and the markers follow. */
export function reviewOnInstances() {
  if (session.mode === 'accounts') renderComments();
}
