// Fieldsync console: correcting a job's details after intake (a misspelt address, the wrong
// tier or kind). The form sends only the fields the dispatcher changed, as a merge patch
// (PATCH /v1/jobs/ID); the server checks them as it checks a call, and every problem is marked
// at once. The form stays open across live re-renders until it is sent or put away.

import { KINDS, PRIORITIES } from './constants.js';
import { state } from './state.js';
import { enc, h, field, focusWhenShown, select, parsePosition, positionText } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';
import { forgetProblems, keepProblems, restoreProblems, showProblems } from './actions.js';
import { rerender } from './hooks.js';
import { controlValue, listControl } from './lists.js';

/** The details a correction can change, by group: [legend key, [path, label key, kind of
 *  control]…]. */
const GROUPS = [
  ['intake.customer', [['customer.name', 'intake.customer_name'], ['customer.phone', 'intake.customer_phone', 'tel'],
    ['customer.email', 'intake.customer_email', 'email'], ['customer.tier', 'intake.tier', 'tier']]],
  ['intake.site', [['site.province', 'intake.province'], ['site.city', 'intake.city'], ['site.district', 'intake.district'],
    ['site.address', 'intake.site_address'], ['site.region', 'intake.region', 'region'], ['site.position', 'intake.position', 'position']]],
  ['intake.product', [['product.model', 'intake.product_model'], ['product.serial', 'intake.product_serial']]],
  ['intake.problem', [['kind', 'intake.kind', 'kind'], ['priority', 'intake.priority', 'priority'],
    ['problem.category', 'intake.category', 'category'], ['problem.description', 'intake.description', 'text']]],
];
const FIELDS = GROUPS.flatMap(([, fields]) => fields);

const inputId = (path) => `fix-${path.replace(/\./g, '_')}`;
// The coordinates are one field, `lat, lon`, as they are typed.
const valueAt = (job, path) => (path === 'site.position' ? positionText(job.site)
  : path.split('.').reduce((v, key) => (v == null ? v : v[key]), job) ?? '');

/** The button that opens the form, for the job page's head. */
export function correctButton(id) {
  return h('button', { id: 'job-correct', type: 'button', class: 'btn', onclick: () => { state.correcting = id; rerender(); } },
    t('correct.open'));
}

/** The form for job `id`, or null when it is not open. */
export function correctionForm(id, job) {
  if (state.correcting !== id) return null;
  const control = ([path, , kind]) => {
    const attrs = { id: inputId(path), name: inputId(path) };
    if (kind === 'tier') return select(attrs.id, [['standard', t('intake.tier_standard')], ['vip', t('intake.tier_vip')]], valueAt(job, path));
    if (kind === 'kind') return select(attrs.id, KINDS, valueAt(job, path));
    if (kind === 'priority') return select(attrs.id, PRIORITIES, valueAt(job, path));
    if (kind === 'region' || kind === 'category') return listControl(attrs.id, kind, valueAt(job, path));
    if (kind === 'text') {
      const area = h('textarea', { ...attrs, rows: 3 });
      area.value = valueAt(job, path);
      return area;
    }
    return h('input', { ...attrs, type: kind || 'text', value: valueAt(job, path) });
  };
  const reason = h('input', { id: 'fix-reason', type: 'text', maxlength: 500 });
  const errEl = h('div', { id: 'fix-error', class: 'error-box', role: 'alert', hidden: true });
  const close = () => { state.correcting = null; forgetProblems('correct'); rerender(); };
  const inputOf = (path) => form.querySelector(`#${inputId(['site.lat', 'site.lon'].includes(path) ? 'site.position' : path || 'none')}`);
  const form = h('form', { id: 'correct-form', class: 'card correct', novalidate: true, onsubmit: (e) => { e.preventDefault(); send(); } },
    h('h2', {}, t('correct.title')), h('p', { class: 'muted' }, t('correct.note')), errEl,
    GROUPS.map(([legend, fields]) => h('fieldset', { class: 'correct-grid' }, h('legend', {}, t(legend)),
      fields.map((f) => field(inputId(f[0]), t(f[1]), control(f))))),
    field('fix-reason', t('correct.reason'), reason),
    h('div', { class: 'form-actions' },
      h('button', { type: 'submit', class: 'btn primary' }, t('correct.save')),
      h('button', { type: 'button', class: 'btn ghost', onclick: close }, t('correct.cancel'))));
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
  form.addEventListener('input', (e) => { e.target.classList.remove('invalid'); e.target.removeAttribute('aria-invalid'); });

  async function send() {
    // Only what differs from what the job holds, as a merge patch of its details.
    const patch = {};
    for (const [path] of FIELDS) {
      const control = form.querySelector(`#${inputId(path)}`);
      const value = controlValue(control);
      const held = String(valueAt(job, path));
      if (value === (control.dataset.list ? held : held.trim())) continue;
      if (path === 'site.position') {
        const position = parsePosition(value);
        if (position === undefined) {
          showProblems(errEl, new Error(t('intake.position_invalid')), () => inputOf(path));
          return;
        }
        patch.site = { ...patch.site, lat: position ? position.lat : null, lon: position ? position.lon : null };
        continue;
      }
      const [top, key] = path.split('.');
      if (key) (patch[top] = patch[top] || {})[key] = value;
      else patch[top] = value;
    }
    if (!Object.keys(patch).length) { close(); return; }
    if (reason.value.trim()) patch.reason = reason.value.trim();
    try {
      await api('PATCH', `/v1/jobs/${enc(id)}`, patch);
      state.correcting = null;
      forgetProblems('correct');
      rerender();
    } catch (err) {
      if (err.status === 401) return;
      keepProblems('correct', errEl, err, inputOf);
    }
  }
  restoreProblems('correct', errEl, inputOf);
  const first = form.querySelector('input, select, textarea');
  if (first) focusWhenShown(first, () => form.contains(document.activeElement));
  return form;
}
