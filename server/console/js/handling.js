// Fieldsync console: what the office does when a job needs more than planning: answering the
// field's help requests (the answer reaches the installer's phone with the job), escalating a
// job by hand with a reason, and handling a complaint (its kind, severity, owner, the answer
// given to the customer, the outcome). Each form keeps what was typed across live re-renders.

import { h, field, select, label, fmtDateTime, ringBadge, enc } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';
import { act, forgetProblems, keepProblems, restoreProblems } from './actions.js';
import { rerender } from './hooks.js';

const SEVERITIES = ['normal', 'serious', 'critical'];
const OUTCOMES = ['resolved', 'compensated', 'refund', 'return_or_exchange', 'rejected'];
const COMPLAINT_KINDS = ['quality_of_work', 'delay', 'attitude', 'product_fault', 'charges', 'other'];

/** The escalation section: the ring, the help requests with their answers (and a form for each
 *  one not yet answered), and escalating by hand. */
export function escalation(id, job, sum) {
  const helps = (job.escalation && job.escalation.help_requests) || [];
  return [
    h('p', {}, ringBadge(sum.ring), ' ', t('job.ring_of', { ring: sum.ring, max: 3 })),
    helps.length ? h('ul', { id: 'job-help-requests', class: 'plain help-requests' }, helps.map((r, index) => h('li', {},
      h('strong', {}, r.by), h('span', { class: 'muted' }, ` ${fmtDateTime(r.at)} — `), r.reason,
      r.answer
        ? h('p', { class: 'help-answer' }, t('handling.answered', { by: r.answered_by, time: fmtDateTime(r.answered_at) }), ' ', r.answer)
        : answerForm(id, index))))
      : h('p', { class: 'empty' }, t('job.no_help_requests')),
    sum.ring < 3 && !['cancelled', 'closed'].includes(sum.status) ? escalateForm(id, sum) : null,
  ];
}

function answerForm(id, index) {
  const answer = h('input', { id: `help-answer-${index}`, type: 'text', maxlength: 2000, required: true });
  return h('form', { class: 'help-answer-form', onsubmit: (e) => {
    e.preventDefault();
    act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/help/${index}/answer`, { answer: answer.value.trim() }));
  } }, h('label', { for: answer.id, class: 'sr-only' }, t('handling.answer_label')), answer,
  h('button', { type: 'submit', class: 'btn small primary' }, t('handling.answer')));
}

function escalateForm(id, sum) {
  const rings = [2, 3].filter((r) => r > sum.ring);
  const ring = select('escalate-ring', rings.map((r) => [String(r), t('handling.to_ring', { ring: r })]), String(rings[0]));
  const reason = h('input', { id: 'escalate-reason', type: 'text', maxlength: 500, required: true });
  return h('form', { id: 'escalate-form', class: 'escalate-form', onsubmit: (e) => {
    e.preventDefault();
    act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/escalate`, { ring: Number(ring.value), reason: reason.value.trim() }));
  } },
  h('h3', {}, t('handling.escalate_title')),
  field('escalate-ring', t('handling.ring'), ring), field('escalate-reason', t('handling.reason'), reason),
  h('button', { type: 'submit', class: 'btn danger small' }, t('handling.escalate')));
}

/** The complaint section of a complaint job: what it is about and the office's handling. */
export async function complaintHandling(id, job) {
  const c = job.complaint || {};
  let office = [];
  try {
    office = (await api('GET', '/v1/users')).filter((u) => u.role !== 'installer');
  } catch (err) { /* the owner stays as it is */ }
  const kind = select('complaint-kind', COMPLAINT_KINDS, c.kind || 'other');
  const severity = select('complaint-severity', SEVERITIES, c.severity || 'normal');
  // The current owner stays a choice even when the list of people cannot be read.
  const people = office.map((u) => [u.id, u.name || u.id]);
  if (c.owner && !people.some(([id]) => id === c.owner)) people.push([c.owner, c.owner]);
  const owner = select('complaint-owner', [['', t('handling.no_owner')], ...people], c.owner || '');
  const answer = h('textarea', { id: 'complaint-answer', rows: 3, maxlength: 2000 });
  // An outcome once recorded is changed, not taken back.
  const outcome = select('complaint-outcome', [...(c.outcome ? [] : [['', t('handling.open')]]), ...OUTCOMES.map((o) => [o, label(o)])], c.outcome || '');
  const note = h('textarea', { id: 'complaint-outcome_note', rows: 2, maxlength: 2000 });
  note.value = c.outcome_note || '';
  const errEl = h('div', { id: 'complaint-error', class: 'error-box', role: 'alert', hidden: true });
  const inputOf = (path) => form.querySelector(`#complaint-${path}`);
  const form = h('form', { id: 'complaint-form', class: 'complaint-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    // Only what changed, and the answer only when one is typed.
    const body = {};
    if (kind.value !== (c.kind || 'other')) body.kind = kind.value;
    if (severity.value !== (c.severity || 'normal')) body.severity = severity.value;
    if (owner.value !== (c.owner || '')) body.owner = owner.value;
    if (answer.value.trim()) body.answer = answer.value.trim();
    if (outcome.value && outcome.value !== c.outcome) body.outcome = outcome.value;
    if (note.value.trim() !== (c.outcome_note || '')) body.outcome_note = note.value.trim();
    try {
      await api('POST', `/v1/jobs/${enc(id)}/complaint`, body);
      forgetProblems('complaint');
      form.querySelectorAll('[data-dirty]').forEach((el) => { delete el.dataset.dirty; });
      rerender();
    } catch (err) {
      if (err.status === 401) return;
      keepProblems('complaint', errEl, err, inputOf);
    }
  } },
  errEl,
  h('div', { class: 'rv-grid' }, field('complaint-kind', t('handling.kind'), kind), field('complaint-severity', t('handling.severity'), severity),
    field('complaint-owner', t('handling.owner'), owner)),
  c.answer ? h('p', { id: 'complaint-answered', class: 'help-answer' }, t('handling.customer_told', { time: fmtDateTime(c.answered_at) }), ' ', c.answer) : null,
  field('complaint-answer', c.answer ? t('handling.answer_again') : t('handling.answer_customer'), answer),
  h('div', { class: 'rv-grid' }, field('complaint-outcome', t('handling.outcome'), outcome)),
  field('complaint-outcome_note', t('handling.outcome_note'), note),
  h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('handling.save'))));
  restoreProblems('complaint', errEl, inputOf);
  return [
    c.about_job ? h('p', {}, t('handling.about', { source: label(c.source) }), ' ',
      h('a', { href: `#/jobs/${enc(c.about_job)}` }, c.about_job)) : null,
    form,
  ];
}
