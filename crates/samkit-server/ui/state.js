// The editor's shared state: the one API client, the state object `S` every module reads and
// writes, and the undo stack. This module imports no feature module, so it is evaluated
// before all of them. Feature modules (images, prompts, brush, instances, categories,
// project, bindings) import from here and from each other; none of them uses another's
// exports at import time, so the import cycles between them are harmless.

import { Api } from './api.js';
import { UndoStack } from './undo.js';

export const api = new Api();
export const params = new URLSearchParams(location.search);

export const EMPTY_PROMPT = Object.freeze({ points: [], box: null, result: null, sel: 0, mask: null, edited: false, iou: null });

export const S = {
  project: null,
  images: [],
  categories: [],
  index: -1, // index in S.images of the image being edited
  image: null,
  imageReady: false,
  instances: [],
  maskCache: new Map(), // `${id}:${version}` -> Uint8Array
  hidden: new Set(), // instance ids hidden in the view
  hideAll: false,
  prompt: EMPTY_PROMPT,
  tool: 'prompt',
  brush: 12, // radius in image pixels
  categoryId: null,
  opacity: 0.55,
  outlineOnly: false, // masks drawn without fill (O)
  predictSeq: 0,
  predicting: 0, // predictSeq of the request in flight (0: none)
  embeddings: null,
  lastTiming: null,
  openSeq: 0,
  deletedVersions: new Map(), // instance id -> version of the deleted row (for restore)
  lastHistoryId: null,
  scrolledTo: null, // image index last scrolled into view in the list
  statesKey: '', // last embedding states rendered in the image list
};

/** The editor's undo stack; prompts.js sets its onChange (the buttons' state). */
export const undo = new UndoStack();

export const category = (id) => S.categories.find((c) => c.id === id);

let clientCounter = 0;
export const newClientId = () =>
  (crypto.randomUUID ? crypto.randomUUID() : `c-${Date.now()}-${Math.random().toString(16).slice(2)}`) + `-${++clientCounter}`;
