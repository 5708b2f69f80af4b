// Unaccepted work per image: when the annotator moves to another image (N/P, the list), the
// pending mask, its prompts, its candidates and the undo stack of the image left are kept
// here and given back on return, so nothing disappears silently. The most recent
// MAX_DRAFTS images keep theirs (each holds masks of the image's size).

export const MAX_DRAFTS = 20;

export class Drafts {
  constructor(max = MAX_DRAFTS) {
    this.max = max;
    this.byImage = new Map(); // image id -> {prompt, undo, timing}, oldest first
  }

  /** Keep `draft` for `imageId`; one with no prompt, no mask and no undo step is dropped. */
  save(imageId, draft) {
    this.byImage.delete(imageId);
    const p = draft.prompt;
    const work = p && (p.points.length || p.box || p.mask);
    if (!work && !draft.undo.done.length && !draft.undo.undone.length) return;
    this.byImage.set(imageId, draft);
    while (this.byImage.size > this.max) this.byImage.delete(this.byImage.keys().next().value);
  }

  /** The draft of `imageId` (removed from here), or null. */
  take(imageId) {
    const d = this.byImage.get(imageId) || null;
    this.byImage.delete(imageId);
    return d;
  }

  /** Whether `imageId` has an unaccepted mask or prompts waiting (shown in the image list). */
  pending(imageId) {
    const p = this.byImage.get(imageId)?.prompt;
    return !!p && !!(p.points.length || p.box || p.mask);
  }
}
