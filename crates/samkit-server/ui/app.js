// samkit annotation app: the entry point. Loads the project and the image list, starts the
// background polls and opens the first image; the editor itself is split by concern:
// state.js (shared state, undo), errors.js, canvas.js (viewer, proposals), images.js
// (list, navigation, encoding progress), prompts.js (prompts, prediction, pending mask),
// brush.js, instances.js, categories.js, project.js (export/import), bindings.js (buttons,
// keyboard). Every network failure ends up in a visible message — nothing fails silently.

import { maskArea, maskBbox } from './rle.js';
import { overlay } from './dom.js';
import { api, params, S } from './state.js';
import { showError } from './errors.js';
import { viewer, proposals } from './canvas.js';
import { openImage, renderImageList, pollEmbeddings, pollHistory } from './images.js';
import { loadProject } from './project.js';
import { bindUi } from './bindings.js';
import { hoveredInstance } from './display.js';
import { loadSession, session } from './session.js';

// ------------------------------------------------------------------------------------------
// loading
async function boot() {
  try {
    if (!(await loadSession())) return;
  } catch (e) {
    showError(e, 'could not reach the server');
    overlay('Could not reach the server — is it running? Reload the page to retry.', false);
    return;
  }
  bindUi();
  try {
    await loadProject();
    S.images = await api.images();
  } catch (e) {
    showError(e, 'could not load the project');
    overlay('Could not load the project — is the server running? Reload the page to retry.', false);
    return;
  }
  renderImageList();
  pollEmbeddings();
  pollHistory();
  if (!S.images.length) {
    const none = session.mode === 'accounts' && session.role === 'annotator'
      ? 'No images are assigned to you yet; an admin assigns them.'
      : 'No images in this project folder. Add images and press reload.';
    overlay(none, false);
    return;
  }
  const wanted = Number(params.get('image') || location.hash.replace(/^#image=/, ''));
  const idx = Math.max(0, S.images.findIndex((im) => im.id === wanted));
  await openImage(idx);
}

// Debug/test hooks: read-only views of the state plus coordinate mapping for clicks.
window.samkit = {
  get state() { return S; },
  viewer,
  toClient: (x, y) => viewer.toClient(x, y),
  get timing() { return S.lastTiming; },
  get maskArea() { return S.prompt.mask ? maskArea(S.prompt.mask) : 0; },
  get maskBbox() { return S.prompt.mask && S.image ? maskBbox(S.prompt.mask, S.image.width, S.image.height) : null; },
  get ready() { return S.imageReady; },
  get hovered() { return hoveredInstance(); },
  proposals,
};

boot();
