// The page layout by screen size: the image list and the side panel collapse (☰ / ▤, L / I),
// the top bar's actions go behind a ⋯ menu on a phone, and a phone is in review mode: view,
// zoom and pan by touch (viewer.js), image status and navigation; no editing tools.
// Which panels are open is remembered per size class (wide, medium) in localStorage; on a
// phone the panels are drawers over the canvas and start closed.

import { tid } from './dom.js';

const PHONE = window.matchMedia('(max-width: 700px)');
const MEDIUM = window.matchMedia('(max-width: 1100px)');
const KEY = 'samkit.panels';
const DEFAULTS = { wide: { left: true, right: true }, medium: { left: false, right: true }, phone: { left: false, right: false } };

let open = null; // {left, right} of the current size class
let onModeChange = () => {};

export const sizeClass = () => (PHONE.matches ? 'phone' : MEDIUM.matches ? 'medium' : 'wide');
/** Phone-sized screen: review only (a press pans the image, editing controls are hidden). */
export const isReviewMode = () => PHONE.matches;

function saved() {
  try {
    return JSON.parse(localStorage.getItem(KEY) || '{}') || {};
  } catch {
    return {};
  }
}

function load() {
  const mode = sizeClass();
  open = { ...DEFAULTS[mode], ...(mode === 'phone' ? {} : saved()[mode]) };
  apply();
}

function apply() {
  const layout = tid('layout');
  layout.classList.toggle('left-closed', !open.left);
  layout.classList.toggle('right-closed', !open.right);
  tid('toggle-images').setAttribute('aria-expanded', String(open.left));
  tid('toggle-panel').setAttribute('aria-expanded', String(open.right));
  document.body.classList.toggle('review', isReviewMode());
  document.body.dataset.size = sizeClass();
}

/** Open or close `side` ('left': image list, 'right': side panel); `show` omitted: toggle. */
export function togglePanel(side, show = !open[side]) {
  open[side] = show;
  const mode = sizeClass();
  // A phone has room for one drawer at a time.
  if (mode === 'phone' && show) open[side === 'left' ? 'right' : 'left'] = false;
  if (mode !== 'phone') localStorage.setItem(KEY, JSON.stringify({ ...saved(), [mode]: open }));
  apply();
}

export const panelOpen = (side) => !!open?.[side];

function setMenu(show) {
  tid('topbar-menu').closest('.topbar').classList.toggle('menu-open', show);
  tid('topbar-menu').setAttribute('aria-expanded', String(show));
}

/** `changed()` runs when the size class changes (the viewer's cursor, the toolbar). */
export function initLayout(changed = () => {}) {
  onModeChange = changed;
  load();
  for (const q of [PHONE, MEDIUM]) {
    q.addEventListener('change', () => {
      load();
      onModeChange();
    });
  }
  tid('toggle-images').addEventListener('click', () => togglePanel('left'));
  tid('toggle-panel').addEventListener('click', () => togglePanel('right'));
  tid('topbar-menu').addEventListener('click', (e) => {
    e.stopPropagation();
    setMenu(tid('topbar-menu').getAttribute('aria-expanded') !== 'true');
  });
  document.addEventListener('click', (e) => {
    if (!e.target.closest('.topbar-actions')) setMenu(false);
  });
  // Phone: picking an image closes the list; touching the canvas closes a drawer.
  tid('image-list').addEventListener('click', (e) => {
    if (isReviewMode() && e.target.closest('li[data-index]')) togglePanel('left', false);
  });
  tid('stage').addEventListener('pointerdown', () => {
    if (isReviewMode() && (open.left || open.right)) {
      open.left = open.right = false;
      apply();
    }
  }, true);
}
