// Small DOM helpers shared by the app: element lookup, toasts, the canvas overlay.
import { escapeHtml } from './markdown.js';

export const $ = (sel) => document.querySelector(sel);
/** The element with `data-testid="id"` (the same hooks the e2e tests use). */
export const tid = (id) => document.querySelector(`[data-testid="${id}"]`);
export const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

const FADE_MS = 400;

/**
 * Show toast `kind` (conflict | error | info) with trusted `html`. Toasts float over the
 * page (position fixed): showing one moves nothing and does not re-fit the zoom. Without
 * `timeout` a toast stays until dismissed (errors, conflicts); with one it fades out.
 * `actions`: [{label, testid?, run}] buttons; a click dismisses the toast and runs it.
 */
export function showBanner(kind, html, { timeout = 0, actions = [] } = {}) {
  const el = tid(`banner-${kind}`);
  el.querySelector('.msg').innerHTML = html;
  el.querySelector('.actions').replaceChildren(...actions.map((a) => {
    const b = document.createElement('button');
    b.type = 'button';
    b.textContent = a.label;
    if (a.testid) b.dataset.testid = a.testid;
    b.addEventListener('click', () => {
      hideBanner(kind);
      a.run();
    });
    return b;
  }));
  clearTimeout(el._t);
  el.classList.remove('fading');
  el.hidden = false;
  if (timeout) {
    el._t = setTimeout(() => {
      el.classList.add('fading');
      el._t = setTimeout(() => hideBanner(kind), FADE_MS);
    }, timeout);
  }
}

export function hideBanner(kind) {
  const el = tid(`banner-${kind}`);
  clearTimeout(el._t);
  el.classList.remove('fading');
  el.hidden = true;
}

export function showInfo(msg, timeout = 6000, actions = []) {
  showBanner('info', escapeHtml(msg), { timeout, actions });
}

/** A message over the canvas (with a spinner while waiting); null hides it. */
export function overlay(message, spinner = true) {
  const el = tid('stage-overlay');
  if (!message) {
    el.hidden = true;
    return;
  }
  el.hidden = false;
  el.querySelector('.spinner').hidden = !spinner;
  tid('stage-message').textContent = message;
}

/** Save a fetch Response as a download (file name from Content-Disposition). */
export async function saveResponse(res, fallbackName) {
  const blob = await res.blob();
  const m = /filename="?([^";]+)"?/.exec(res.headers.get('Content-Disposition') || '');
  const filename = m ? m[1] : fallbackName;
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = filename;
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 30000);
  return { filename, size: blob.size };
}
