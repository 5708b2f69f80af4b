// Undo/redo of editor actions. An action is `{label, undo: async () => {}, redo: async () => {}}`.
// Actions run one at a time (a busy flag) so a fast Ctrl+Z burst cannot interleave API calls.

export class UndoStack {
  constructor(onChange = () => {}, limit = 200) {
    this.done = [];
    this.undone = [];
    this.busy = false;
    this.limit = limit;
    this.onChange = onChange;
  }

  /** Record an action that has already been performed. */
  push(action) {
    this.done.push(action);
    if (this.done.length > this.limit) this.done.shift();
    this.undone = [];
    this.onChange();
  }

  clear() {
    this.done = [];
    this.undone = [];
    this.onChange();
  }

  /** Forget `action` if it is the last one done (an action that turned out not to happen). */
  drop(action) {
    if (this.done[this.done.length - 1] !== action) return false;
    this.done.pop();
    this.onChange();
    return true;
  }

  /** The actions done and undone, to be given back later by `restore` (per-image work). */
  snapshot() {
    return { done: [...this.done], undone: [...this.undone] };
  }

  restore(snap) {
    this.done = [...snap.done];
    this.undone = [...snap.undone];
    this.onChange();
  }

  canUndo() { return this.done.length > 0 && !this.busy; }
  canRedo() { return this.undone.length > 0 && !this.busy; }

  async undo() {
    if (!this.canUndo()) return null;
    const action = this.done.pop();
    this.busy = true;
    try {
      await action.undo();
      this.undone.push(action);
      return action;
    } catch (e) {
      // The action could not be undone (e.g. a conflict): drop it, keep the rest usable.
      throw e;
    } finally {
      this.busy = false;
      this.onChange();
    }
  }

  async redo() {
    if (!this.canRedo()) return null;
    const action = this.undone.pop();
    this.busy = true;
    try {
      await action.redo();
      this.done.push(action);
      return action;
    } finally {
      this.busy = false;
      this.onChange();
    }
  }
}
