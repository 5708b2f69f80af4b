// The canvas: the Viewer wired to the current tool (prompt clicks and boxes, brush strokes)
// and the "segment everything" proposals drawn on it. Both objects are made here once and
// shared by the feature modules.

import { Viewer } from './viewer.js';
import { Proposals } from './proposals.js';
import { $, tid } from './dom.js';
import { api, S, undo, newClientId } from './state.js';
import { showError } from './errors.js';
import { addPoint, setBox } from './prompts.js';
import { brushStart, brushMove, brushEnd } from './brush.js';
import { upsertInstance, removeInstance } from './instances.js';
import { bumpImageStatus } from './images.js';
import { hoverCanvas } from './display.js';
import { isReviewMode } from './layout.js';
import { selectAt } from './edit.js';
import { vertexDown, vertexMove, vertexUp, drawOutline } from './polygon.js';
import { levelStart, levelMove, levelEnd } from './volume.js';
import { placeCommentMarkers } from './review.js';

export const viewer = new Viewer($('#canvas'), {
  mode: () => (S.imageReady ? S.tool : 'prompt'),
  // With no prompt in progress, a click on a "segment everything" proposal takes it.
  onPoint: (x, y, positive) => {
    if (!(promptIdle() && proposals.click(x, y, positive))) addPoint(x, y, positive);
  },
  onBox: (box) => setBox(box),
  panOnly: () => isReviewMode(),
  onSelect: (x, y) => selectAt(x, y),
  onVertexDown: (p, scale) => vertexDown(p, scale),
  onVertexMove: (p) => vertexMove(p),
  onVertexUp: () => vertexUp(),
  drawOverlay: (ctx, toScreen) => drawOutline(ctx, toScreen),
  onLevelStart: () => levelStart(),
  onLevelMove: (dx, dy) => levelMove(dx, dy),
  onLevelEnd: () => levelEnd(),
  onBrushStart: (x, y) => brushStart(x, y),
  onBrushMove: (x, y) => brushMove(x, y),
  onBrushEnd: () => brushEnd(),
  brushRadius: () => S.brush,
  onView: (scale) => {
    tid('zoom-level').textContent = `${Math.round(scale * 100)}%`;
    placeCommentMarkers();
  },
  onHover: (p) => {
    proposals.onHover(S.tool === 'prompt' && promptIdle() ? p : null);
    hoverCanvas(p);
  },
});

export function promptIdle() {
  return S.imageReady && !S.prompt.points.length && !S.prompt.box && !S.prompt.mask;
}
viewer.setOpacity(S.opacity);

export const proposals = new Proposals({
  api,
  viewer,
  undo,
  image: () => (S.imageReady ? S.image : null),
  instances: () => S.instances,
  showError,
  create: async (p, job) => {
    const image = S.image;
    const inst = await api.createInstance(image.id, {
      category_id: S.categoryId,
      rle: p.rle,
      score: p.predicted_iou,
      prompts: { auto: { job: job.id, index: p.index, point: p.point, stability_score: p.stability_score, params: job.params } },
      client_id: newClientId(),
    });
    if (S.image?.id === image.id) upsertInstance(inst);
    bumpImageStatus();
    return inst;
  },
  remove: async (inst) => {
    const cur = S.instances.find((i) => i.id === inst.id);
    const gone = await api.deleteInstance(inst.id, cur ? cur.version : inst.version);
    removeInstance(gone.id, gone);
  },
  restore: async (inst) => {
    const back = await api.restoreInstance(inst.id, S.deletedVersions.get(inst.id));
    upsertInstance(back);
    return back;
  },
});
