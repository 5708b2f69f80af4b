// The "Report" dialog (reviewers and admins of a team project): agreement between
// annotators on the images given to several of them, per pair and per image, and each
// annotator's progress — GET /api/report, the same numbers as `samkit report`.

import { escapeHtml } from './markdown.js';
import { tid } from './dom.js';
import { api } from './state.js';
import { showError } from './errors.js';

const num = (v, digits = 3) => (v == null ? '–' : Number(v).toFixed(digits));

function table(head, rows) {
  const th = head.map(([label, n]) => `<th${n ? ' class="num"' : ''}>${escapeHtml(label)}</th>`).join('');
  const body = rows
    .map((r) => `<tr>${r.map((c, i) => `<td${head[i][1] ? ' class="num"' : ''}>${escapeHtml(String(c))}</td>`).join('')}</tr>`)
    .join('');
  return `<table><thead><tr>${th}</tr></thead><tbody>${body}</tbody></table>`;
}

export async function openReport() {
  const d = tid('report-panel');
  const body = tid('report-body');
  body.innerHTML = '<p class="muted">loading…</p>';
  if (!d.open) d.showModal();
  let r;
  try {
    r = await api.get('/api/report');
  } catch (e) {
    showError(e, 'could not load the report');
    d.close();
    return;
  }
  const pairHead = [['annotator A'], ['annotator B'], ['images', 1], ['instances', 1], ['mean IoU', 1], ['F1@.50', 1], ['F1@.75', 1], ['only A', 1], ['only B', 1]];
  const pairRow = (p) => [p.a, p.b, p.images, `${p.instances_a}/${p.instances_b}`, num(p.mean_iou), num(p.f1_50), num(p.f1_75), p.only_a, p.only_b];
  body.innerHTML = `
    <p class="muted">${r.overlap_images} image(s) given to several annotators; their instances are matched one to one per category by mask IoU.</p>
    <h3>Annotator pairs</h3>
    ${r.pairs.length ? table(pairHead, r.pairs.map(pairRow)) : '<p class="muted">No image is annotated by two people yet: give some to several annotators (overlap).</p>'}
    ${r.per_image.length ? `<h3>Per image</h3>${table([['image'], ...pairHead], r.per_image.map((p) => [p.image, ...pairRow(p)]))}` : ''}
    <h3>Annotators</h3>
    ${table(
      [['name'], ['assigned', 1], ['done', 1], ['approved', 1], ['instances', 1], ['s / instance', 1], ['prompts / instance', 1], ['sent back', 1]],
      r.annotators.map((a) => [a.name, a.assigned, a.done, a.approved, a.instances, num(a.seconds_per_instance, 1), num(a.prompts_per_instance, 2),
        a.rejection_rate == null ? '–' : `${a.rejections}/${a.submissions} (${Math.round(a.rejection_rate * 100)}%)`]),
    )}
    <p class="muted">Dataset version: history entry ${r.history_id}.</p>`;
}

export function bindReport() {
  tid('report-button').addEventListener('click', openReport);
}
