// Fieldsync console: the intake view (#/intake): a new call becomes a job; the server's
// validation errors are shown all at once, each on the field it names. The fields dispatch
// must fill are marked, and a half-typed call is kept while the dispatcher looks elsewhere. A
// returning customer is offered as their name or number is typed, and picked fills the call.

import { KINDS, PRIORITIES } from './constants.js';
import { state } from './state.js';
import { $, enc, h, field, select, parseLocalInput, parsePosition } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';
import { showProblems } from './actions.js';
import { callFrom, customerMatches } from './customers.js';
import { controlValue, isKept, listControl, setControlValue } from './lists.js';

/** The inputs of the fields the server requires. */
const REQUIRED = ['customer_name', 'site_address', 'category', 'description'];

// Field paths named by the server's validation errors → ids of the intake inputs.
const INTAKE_FIELDS = {
  'customer.name': 'customer_name', 'customer.phone': 'customer_phone',
  'customer.email': 'customer_email', 'customer.tier': 'tier', 'site.address': 'site_address',
  'site.province': 'site_province', 'site.city': 'site_city', 'site.district': 'site_district',
  'site.region': 'region', 'site.lat': 'site_position', 'site.lon': 'site_position', 'product.model': 'product_model', 'product.serial': 'product_serial',
  'problem.category': 'category', 'problem.description': 'description', kind: 'kind',
  call_received_at: 'call_received_at', priority: 'priority',
};

export async function viewIntake() {
  const input = (id, attrs = {}) => h('input', { id, name: id, type: 'text', ...attrs });
  // Regions and categories are chosen from the organisation's lists once it keeps them.
  // Until then, the regions the engineers work in are suggested for the region field.
  const regions = h('datalist', { id: 'region-list' });
  if (!isKept('region')) {
    api('GET', '/v1/users').then((users) => {
      const known = [...new Set(users.map((u) => u.region).filter(Boolean))].sort();
      regions.replaceChildren(...known.map((r) => h('option', { value: r })));
    }, () => {});
  }
  // A returning customer: known records offered as the name or number is typed; picking one
  // fills the call from it and links the job to it.
  // Controls of the form, found before it is in the page.
  const control = (id) => form.querySelector(`#${id}`);
  const linked = h('p', { id: 'intake-linked', class: 'intake-linked', hidden: true });
  const matches = customerMatches((c) => {
    const values = callFrom(c);
    for (const [id, value] of Object.entries(values)) setControlValue(control(id), value);
    state.intakeDraft = { ...(state.intakeDraft || {}), ...values };
    matches.update('');
    showLinked();
  });
  function showLinked() {
    const id = control('customer_id').value;
    linked.hidden = !id;
    linked.replaceChildren(...(id ? [t('intake.linked_to', { name: control('customer_name').value }), ' ',
      h('a', { href: `#/customers/${enc(id)}` }, t('intake.customer_history')), ' ',
      h('button', { id: 'intake-unlink', type: 'button', class: 'btn small ghost', onclick: () => {
        control('customer_id').value = '';
        state.intakeDraft = { ...(state.intakeDraft || {}), customer_id: '' };
        showLinked();
      } }, t('intake.unlink'))] : []));
  }
  const form = h('form', { id: 'intake-form', class: 'card intake', novalidate: true, onsubmit: submitIntake },
    h('div', { id: 'intake-error', class: 'error-box', role: 'alert', hidden: true }),
    h('fieldset', {}, h('legend', {}, t('intake.customer')),
      h('input', { id: 'customer_id', name: 'customer_id', type: 'hidden' }), linked,
      field('customer_name', t('intake.customer_name'), input('customer_name', { autocomplete: 'off' })),
      field('customer_phone', t('intake.customer_phone'), input('customer_phone', { type: 'tel', autocomplete: 'off' })),
      h('div', { class: 'span-all' }, matches.box),
      field('customer_email', t('intake.customer_email'), input('customer_email', { type: 'email' })),
      field('tier', t('intake.tier'), select('tier', [['standard', t('intake.tier_standard')], ['vip', t('intake.tier_vip')]], 'standard'))),
    h('fieldset', {}, h('legend', {}, t('intake.site')),
      field('site_province', t('intake.province'), input('site_province')),
      field('site_city', t('intake.city'), input('site_city')),
      field('site_district', t('intake.district'), input('site_district')),
      field('site_address', t('intake.site_address'), input('site_address')),
      field('region', t('intake.region'), listControl('region', 'region', '', { list: 'region-list' }), t('intake.region_hint')), regions,
      field('site_position', t('intake.position'), input('site_position', { inputmode: 'decimal', autocomplete: 'off' }), t('intake.position_hint'))),
    h('fieldset', {}, h('legend', {}, t('intake.product')),
      field('product_model', t('intake.product_model'), input('product_model')),
      field('product_serial', t('intake.product_serial'), input('product_serial'))),
    h('fieldset', { class: 'wide' }, h('legend', {}, t('intake.problem')),
      field('kind', t('intake.kind'), select('kind', KINDS, 'repair')),
      field('category', t('intake.category'), listControl('category', 'category')),
      field('priority', t('intake.priority'), select('priority', PRIORITIES, 'normal')),
      field('call_received_at', t('intake.call_received_at'), input('call_received_at', { type: 'datetime-local' }), t('intake.call_received_hint')),
      h('div', { class: 'field span-all' }, h('label', { for: 'description' }, t('intake.description')),
        h('textarea', { id: 'description', name: 'description', rows: 4 }))),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('intake.create_job'))));
  // Marked, not `required`: the server's words name what is missing, in the page's language.
  for (const id of REQUIRED) {
    const control = form.querySelector(`#${id}`);
    control.setAttribute('aria-required', 'true');
    form.querySelector(`label[for="${id}"]`).append(h('span', { class: 'required-mark', 'aria-hidden': 'true' }, ' *'));
  }
  // The draft: every change is kept, and a call half-typed when the dispatcher left comes back.
  const draft = state.intakeDraft || {};
  form.querySelectorAll('input, select, textarea').forEach((control) => {
    if (draft[control.id] !== undefined) setControlValue(control, draft[control.id]);
  });
  showLinked();
  form.addEventListener('input', (e) => {
    if (['customer_name', 'customer_phone'].includes(e.target.id) && !control('customer_id').value) matches.update(e.target.value);
    e.target.classList.remove('invalid');
    e.target.removeAttribute('aria-invalid');
    state.intakeDraft = { ...(state.intakeDraft || {}), [e.target.id]: e.target.value };
  });
  form.addEventListener('change', (e) => {
    state.intakeDraft = { ...(state.intakeDraft || {}), [e.target.id]: e.target.value };
  });
  const clear = h('button', { id: 'intake-clear', type: 'button', class: 'btn ghost', onclick: () => {
    state.intakeDraft = null;
    form.reset();
    control('customer_id').value = '';
    showLinked();
    matches.update('');
    form.querySelectorAll('.invalid').forEach((el) => { el.classList.remove('invalid'); el.removeAttribute('aria-invalid'); });
    $('intake-error').hidden = true;
  } }, t('intake.clear'));
  form.querySelector('.form-actions').append(clear);
  return h('div', { class: 'page' }, h('h1', { class: 'page-title' }, t('intake.title')),
    h('p', { class: 'muted' }, t('intake.required_note')), form);
}

async function submitIntake(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const v = (id) => controlValue($(id));
  const errEl = $('intake-error');
  form.querySelectorAll('.invalid').forEach((el) => { el.classList.remove('invalid'); el.removeAttribute('aria-invalid'); });
  errEl.hidden = true;
  const body = {
    kind: v('kind'),
    customer: { id: v('customer_id'), name: v('customer_name'), tier: v('tier'), phone: v('customer_phone'), email: v('customer_email') },
    site: {
      address: v('site_address'), region: v('region'),
      province: v('site_province'), city: v('site_city'), district: v('site_district'),
    },
    product: { model: v('product_model'), serial: v('product_serial') },
    problem: { category: v('category'), description: v('description') },
    priority: v('priority'),
  };
  if (v('call_received_at')) body.call_received_at = parseLocalInput(v('call_received_at'));
  const position = parsePosition(v('site_position'));
  if (position === undefined) {
    showProblems(errEl, new Error(t('intake.position_invalid')), () => $('site_position'));
    return;
  }
  if (position) Object.assign(body.site, position);
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const job = await api('POST', '/v1/jobs', body);
    state.intakeDraft = null;
    location.hash = `#/jobs/${enc(job.id)}`;
  } catch (err) {
    if (err.status === 401) return;
    showProblems(errEl, err, intakeInput);
  } finally {
    button.disabled = false;
  }
}

function intakeInput(path) {
  if (!path) return null;
  return $(INTAKE_FIELDS[path] || '') || $(path.replace(/\./g, '_')) || $(path.split('.').pop());
}
