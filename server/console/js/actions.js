// Fieldsync console: action errors shown in an alert box and kept across live re-renders,
// and act(), which runs an action, reports its failure and re-renders the current view. A
// booking the server refuses as a double booking is offered again with a reason.

import { state } from './state.js';
import { rerender } from './hooks.js';
import { $, h } from './dom.js';
import { errorText, t } from './i18n.js';

// Action errors: shown in an alert box and kept across live re-renders of the same page.
export function errorBox(id) {
  const saved = state.errors[id];
  const el = h('div', { id, class: 'error-box', role: 'alert' });
  if (saved && saved.hash === location.hash) fill(el, saved);
  else el.hidden = true;
  return el;
}
/** Shows `err` in the box `id`; with `retry`, a form asks for the reason to do it anyway and
 *  calls `retry(reason)`. */
export function showError(id, err, retry) {
  if (err && err.status === 401) return;
  // An API error reads in the page's language; anything else thrown (the console's own checks
  // throw an Error with translated text) keeps its message.
  // A booking refused for several conflicts names them all (one reason overrides them all).
  const conflicts = err && err.params && Array.isArray(err.params.conflicts) ? err.params.conflicts : [];
  const text = conflicts.length > 1
    ? h('ul', { class: 'plain' }, conflicts.map((params) => h('li', {}, errorText({ code: 'conflict', params }))))
    : err && typeof err === 'object' ? errorText(err) : String(err);
  state.errors[id] = { hash: location.hash, text, retry };
  const el = $(id);
  if (el) fill(el, state.errors[id]);
}
function fill(el, { text, retry }) {
  el.replaceChildren(text);
  if (retry) el.append(overrideForm(el.id, retry));
  el.hidden = false;
}
function overrideForm(id, retry) {
  const reason = h('input', { id: `${id}-override`, type: 'text', maxlength: 500, required: true });
  return h('form', { class: 'override', onsubmit: (e) => { e.preventDefault(); act(id, () => retry(reason.value.trim())); } },
    h('label', { for: reason.id }, t('booking.override_label')), reason,
    h('button', { type: 'submit', class: 'btn danger small' }, t('booking.book_anyway')));
}
/** Shows every problem of a refused form in `errEl` (the server lists them in `errors`),
 *  marks the input `inputOf(field)` gives for each, and focuses the first (unless `focus` is
 *  false). */
export function showProblems(errEl, err, inputOf, focus = true) {
  const problems = Array.isArray(err.params && err.params.errors) && err.params.errors.length
    ? err.params.errors.map((p) => ({ ...p, message: p.error }))
    : [err];
  errEl.replaceChildren(problems.length === 1 ? errorText(problems[0])
    : h('ul', { class: 'plain' }, problems.map((p) => h('li', {}, errorText(p)))));
  errEl.hidden = false;
  let first = null;
  for (const problem of problems) {
    const input = inputOf(problem.field || (problem.params && problem.params.field));
    if (!input) continue;
    input.classList.add('invalid');
    input.setAttribute('aria-invalid', 'true');
    first = first || input;
  }
  if (first && focus) first.focus();
}

/** As showProblems, and kept until the page is left or `forgetProblems(key)`, so that the
 *  form `key` shows them again when a live update rebuilds the page (restoreProblems). */
export function keepProblems(key, errEl, err, inputOf) {
  state.errors[`form:${key}`] = { hash: location.hash, err };
  showProblems(errEl, err, inputOf);
}
export function restoreProblems(key, errEl, inputOf) {
  const kept = state.errors[`form:${key}`];
  if (kept && kept.hash === location.hash) showProblems(errEl, kept.err, inputOf, false);
}
export function forgetProblems(key) {
  delete state.errors[`form:${key}`];
}
export function clearError(id) {
  delete state.errors[id];
  const el = $(id);
  if (el) { el.textContent = ''; el.hidden = true; }
}

/** The planning conflicts a reason overrides (the server books the visit anyway). */
const OVERRIDABLE = ['double_booked', 'no_travel_time', 'time_off', 'day_off', 'outside_working_hours'];

/** Runs an action, reports failure in `errorId`, then re-renders the current view. An action
 *  that books a visit takes the reason to override a planning conflict (a double booking, no
 *  time to travel, the engineer away or off) as its argument: refused with one, it is offered
 *  again with the reason asked for. */
export async function act(errorId, fn) {
  try {
    await fn();
    clearError(errorId);
  } catch (err) {
    const overridable = err && err.params && OVERRIDABLE.includes(err.params.problem);
    showError(errorId, err, overridable ? fn : undefined);
  }
  rerender();
}
