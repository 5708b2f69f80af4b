// Options for the pending mask, in the "Pending mask" panel and kept in localStorage:
// - clean-up: SAM's own `remove_small_regions` (fill holes, then drop islands, below an
//   area), applied by the server to every predicted candidate (`min_region_area`), because
//   the Rust port of SAM's code is there (samkit-mask) and the masks are made there; on by
//   default with a small area;
// - exclude existing: the pixels of the other visible instances are taken out of the
//   pending mask when it is accepted (overlap.js), on by default;
// - zoom in: refinement clicks on images larger than the model's view are decoded on a
//   crop at full resolution (the server's zoom-in, `zoom` in the predict request), on by
//   default.

import { tid } from './dom.js';

const KEY = 'samkit.maskOptions';
export const DEFAULT_MIN_REGION_AREA = 100; // px; segment-anything's example uses 100
export const MAX_MIN_REGION_AREA = 100000; // the server's limit (api/predict.rs)

export const maskOptions = { clean: true, minArea: DEFAULT_MIN_REGION_AREA, exclude: true, zoom: true };

function load() {
  try {
    const saved = JSON.parse(localStorage.getItem(KEY) || '{}');
    if (typeof saved.clean === 'boolean') maskOptions.clean = saved.clean;
    if (Number.isInteger(saved.minArea) && saved.minArea >= 1 && saved.minArea <= MAX_MIN_REGION_AREA) maskOptions.minArea = saved.minArea;
    if (typeof saved.exclude === 'boolean') maskOptions.exclude = saved.exclude;
    if (typeof saved.zoom === 'boolean') maskOptions.zoom = saved.zoom;
  } catch {
    // A damaged entry: the defaults.
  }
}

/** The `min_region_area` of a predict request: 0 = no clean-up. */
export const minRegionArea = () => (maskOptions.clean ? maskOptions.minArea : 0);

/** Wire the panel's controls; `onChange()` runs after any option changed. */
export function initMaskOptions(onChange) {
  load();
  const clean = tid('opt-clean');
  const area = tid('opt-min-area');
  const exclude = tid('opt-exclude');
  const zoom = tid('opt-zoom');
  clean.checked = maskOptions.clean;
  area.value = maskOptions.minArea;
  area.disabled = !maskOptions.clean;
  exclude.checked = maskOptions.exclude;
  zoom.checked = maskOptions.zoom;
  const save = () => {
    localStorage.setItem(KEY, JSON.stringify(maskOptions));
    onChange();
  };
  clean.addEventListener('change', () => {
    maskOptions.clean = clean.checked;
    area.disabled = !clean.checked;
    save();
  });
  area.addEventListener('change', () => {
    const v = Math.round(Number(area.value));
    if (!(v >= 1 && v <= MAX_MIN_REGION_AREA)) {
      area.value = maskOptions.minArea; // out of range: keep the last good value
      return;
    }
    maskOptions.minArea = v;
    area.value = v;
    save();
  });
  exclude.addEventListener('change', () => {
    maskOptions.exclude = exclude.checked;
    save();
  });
  zoom.addEventListener('change', () => {
    maskOptions.zoom = zoom.checked;
    save();
  });
}
