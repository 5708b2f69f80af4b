// Editing an accepted instance. Ctrl/⌘+click it on the canvas, or ✎ (or a double click)
// on its row: its mask becomes the pending mask, the prompt state carries
// `editing: {id, version, original}`, the instance itself is left out of the instances
// layer and its row is marked. Clicks then refine it (the first prediction starts from its
// mask: `mask_input`), brush and eraser paint on it. Enter saves the result as the next
// version of the same instance (PATCH with the version it was read at: a change made
// meanwhile by someone else is a conflict, not overwritten); Esc (clear) leaves it as it
// was. Starting an edit is an undo step, so Ctrl+Z goes back out of it; undoing the save
// writes the previous version's mask, score, prompts and category back.
//
// `editing` is shared by every prompt state of one edit (spread copies keep the object),
// so the version our own save / undo / redo wrote is the one every later step checks.
// After a conflict the edit is kept; the badge names who changed the instance, and a
// second Enter saves over their version (a choice made knowing it), Esc drops the edit.

import { encodeRle } from './rle.js';
import { tid, showInfo } from './dom.js';
import { ApiError } from './api.js';
import { api, S, EMPTY_PROMPT, undo, category } from './state.js';
import { showError } from './errors.js';
import { setPrompt, pushPromptAction } from './prompts.js';
import { instanceMask, upsertInstance, renderInstances } from './instances.js';
import { instanceAt } from './display.js';
import { selectCategory } from './categories.js';

/** Ctrl/⌘+click on the canvas: edit the instance drawn on top there. */
export function selectAt(x, y) {
  const inst = instanceAt(x, y);
  if (!inst) {
    showInfo('No visible instance there. Ctrl+click an instance (or ✎ on its row) to edit it.', 3000);
    return;
  }
  startEdit(inst.id);
}

export function startEdit(id) {
  if (!S.imageReady || S.image.missing) return;
  const inst = S.instances.find((i) => i.id === id);
  if (!inst || S.prompt.editing?.id === id) return;
  S.predictSeq++; // an answer still in flight belongs to the prompt left
  const before = S.prompt;
  const editing = { id, version: inst.version, original: inst };
  const { points, box } = storedPrompts(inst);
  const next = { ...EMPTY_PROMPT, points, box, mask: instanceMask(inst).slice(), iou: inst.score ?? null, editing };
  selectCategory(inst.category_id);
  setPrompt(next);
  pushPromptAction('edit', before, next);
}

/**
 * The prompts an instance was made from, to go on from: SAM takes a mask input as a hint
 * next to its prompts, not instead of them (a lone new click with only the mask tends to
 * give the clicked part alone). A "segment everything" proposal has its grid point.
 */
function storedPrompts(inst) {
  const pr = inst.prompts || {};
  const valid = (q) => q && Number.isFinite(q.x) && Number.isFinite(q.y) && (q.label === 'positive' || q.label === 'negative');
  const points = Array.isArray(pr.points) ? pr.points.filter(valid).map(({ x, y, label }) => ({ x, y, label })) : [];
  const auto = pr.auto?.point;
  if (!points.length && Array.isArray(auto) && auto.length === 2) points.push({ x: auto[0], y: auto[1], label: 'positive' });
  const box = Array.isArray(pr.box) && pr.box.length === 4 && pr.box.every(Number.isFinite) ? pr.box : null;
  return { points, box };
}

const label = (inst) => `${category(inst.category_id)?.name || 'instance'} #${inst.id}`;

/** The badge over the canvas while an instance is being edited. */
export function updateEditUi() {
  const badge = tid('edit-badge');
  const ed = S.prompt.editing;
  const inst = ed && S.instances.find((i) => i.id === ed.id);
  badge.hidden = !ed;
  if (!ed) return;
  badge.dataset.id = ed.id;
  badge.classList.toggle('stale', !!ed.overwrites);
  badge.textContent = ed.overwrites
    ? `${inst ? label(inst) : `#${ed.id}`} was changed by ${ed.overwrites} (now version ${ed.version}) — Enter saves your edit over it · Esc drops your edit`
    : `Editing ${inst ? label(inst) : `#${ed.id}`} (version ${ed.version}) — Enter saves version ${ed.version + 1} · Esc cancels`;
}

const sameMask = (a, b) => a.length === b.length && a.every((v, i) => v === b[i]);

/** Enter while editing: `mask` (exclusions applied) becomes the next version of the instance. */
export async function saveEdit(p, mask) {
  const ed = p.editing;
  const { width: w, height: h } = S.image;
  const old = ed.original;
  if (sameMask(mask, instanceMask(old)) && S.categoryId === old.category_id) {
    showInfo(`Nothing changed: ${label(old)} stays at version ${ed.version}.`, 3000);
    S.predictSeq++;
    setPrompt(EMPTY_PROMPT);
    return;
  }
  const predicted = !!p.result && !p.edited;
  const body = {
    version: ed.version,
    category_id: S.categoryId,
    rle: encodeRle(mask, w, h),
    // A predicted mask has SAM's score; a hand-edited one has none; untouched keeps its own.
    score: predicted ? p.iou : p.edited ? null : old.score ?? null,
    prompts: { points: p.points, box: p.box, edited: p.edited || undefined, edit_of: ed.version },
  };
  const image = S.image;
  let saved;
  try {
    saved = await api.patchInstance(ed.id, body);
  } catch (e) {
    const c = e instanceof ApiError && e.isConflict ? e.body.conflict : null;
    if (c?.current_version) {
      // Changed by someone else meanwhile: the edit stays, and the badge says that a second
      // Enter saves it over their version, knowingly; Esc drops it.
      ed.version = c.current_version;
      if (c.current?.rle) ed.original = c.current; // what undo of the save gives back
      ed.overwrites = c.author || 'someone else';
      updateEditUi();
    }
    showError(e, `could not save ${label(old)}`);
    return;
  }
  delete ed.overwrites;
  if (S.image?.id !== image.id) return;
  ed.version = saved.version;
  upsertInstance(saved);
  S.predictSeq++;
  setPrompt(EMPTY_PROMPT);
  // Write `from`'s content as the next version (checked against the version we wrote last).
  const write = async (from) => {
    const r = await api.patchInstance(ed.id, {
      version: ed.version, category_id: from.category_id, rle: from.rle, score: from.score ?? null, prompts: from.prompts,
    });
    ed.version = r.version;
    upsertInstance(r);
  };
  undo.push({
    label: 'save edit',
    undo: async () => {
      await write(old);
      S.predictSeq++;
      setPrompt(p); // the edit as it was before Enter, ready to save again
    },
    redo: async () => {
      await write(saved);
      S.predictSeq++;
      setPrompt(EMPTY_PROMPT);
    },
  });
  showInfo(`Saved ${label(saved)} as version ${saved.version} — Undo (Ctrl+Z) restores version ${old.version}`, 5000);
  renderInstances();
}
