// Fieldsync console: action errors shown in an alert box and kept across live re-renders,
// and act(), which runs an action, reports its failure and re-renders the current view.

import { state } from './state.js';
import { rerender } from './hooks.js';
import { $, h } from './dom.js';
import { errorText } from './i18n.js';

// Action errors: shown in an alert box and kept across live re-renders of the same page.
export function errorBox(id) {
  const saved = state.errors[id];
  const el = h('div', { id, class: 'error-box', role: 'alert' });
  if (saved && saved.hash === location.hash) el.textContent = saved.text;
  else el.hidden = true;
  return el;
}
export function showError(id, err) {
  if (err && err.status === 401) return;
  // An API error reads in the page's language; anything else thrown (the console's own checks
  // throw an Error with translated text) keeps its message.
  const text = err && typeof err === 'object' ? errorText(err) : String(err);
  state.errors[id] = { hash: location.hash, text };
  const el = $(id);
  if (el) { el.textContent = text; el.hidden = false; }
}
export function clearError(id) {
  delete state.errors[id];
  const el = $(id);
  if (el) { el.textContent = ''; el.hidden = true; }
}

/** Runs an action, reports failure in `errorId`, then re-renders the current view. */
export async function act(errorId, fn) {
  try {
    await fn();
    clearError(errorId);
  } catch (err) {
    showError(errorId, err);
  }
  rerender();
}
