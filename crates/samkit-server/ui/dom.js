// Small DOM helpers shared by the app: element lookup, banners, the canvas overlay.
import { escapeHtml } from './markdown.js';

export const $ = (sel) => document.querySelector(sel);
/** The element with `data-testid="id"` (the same hooks the e2e tests use). */
export const tid = (id) => document.querySelector(`[data-testid="${id}"]`);
export const fmtInt = (n) => Math.round(n).toLocaleString('en-US');

/** Show banner `kind` (conflict | error | info) with trusted `html`; optional auto-hide. */
export function showBanner(kind, html, { timeout = 0 } = {}) {
  const el = tid(`banner-${kind}`);
  el.querySelector('.msg').innerHTML = html;
  el.hidden = false;
  clearTimeout(el._t);
  if (timeout) el._t = setTimeout(() => (el.hidden = true), timeout);
}

export function hideBanner(kind) {
  tid(`banner-${kind}`).hidden = true;
}

export function showInfo(msg, timeout = 6000) {
  showBanner('info', escapeHtml(msg), { timeout });
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
