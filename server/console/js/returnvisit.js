// Fieldsync console: the return visit (回访) on the job page: the calls customer service made
// after the job was completed (how each went, the customer's satisfaction and words, when to
// call again) and the form that records the next one (POST /v1/jobs/ID/return-visits). Kept
// apart from the rating the customer gave on the installer's phone.

import { state } from './state.js';
import { enc, h, field, select, label, fmtDateTime, parseLocalInput, table, td } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';
import { forgetProblems, keepProblems, restoreProblems } from './actions.js';
import { rerender } from './hooks.js';

const OUTCOMES = ['reached', 'not_reached', 'call_again'];

/** The section's content for job `id`: the calls so far, and the form once the job is done. */
export function returnVisits(id, job, sum) {
  const calls = job.return_visits || [];
  const surveys = job.surveys || [];
  const done = ['completed', 'closed'].includes(sum.status);
  return [
    calls.length ? table([t('job.col_at'), t('job.col_by'), t('returns.col_outcome'), t('returns.col_score'), t('returns.col_comment')],
      calls.map((c) => h('tr', { 'data-outcome': c.outcome },
        td(fmtDateTime(c.at)), td(c.by), td(c.outcome === 'call_again' && c.call_again_at != null
          ? t('returns.call_again_at', { time: fmtDateTime(c.call_again_at) }) : label(c.outcome)),
        td(c.score != null ? `${c.score}/5` : null), td(c.comment))), { id: 'job-return-visits' })
      : h('p', { class: 'empty' }, done ? t('returns.none_yet') : t('returns.after_completion')),
    surveys.length ? h('ul', { id: 'job-surveys', class: 'plain' }, surveys.map((sv) => h('li', {},
      t('returns.survey', { score: sv.score, time: fmtDateTime(sv.at) }), sv.comment ? h('span', { class: 'muted' }, ` — ${sv.comment}`) : null)))
      : null,
    done ? recordForm(id) : null,
  ];
}

function recordForm(id) {
  const draft = state.returnVisit && state.returnVisit.job === id ? state.returnVisit : { job: id, outcome: 'reached' };
  const outcome = select('rv-outcome', OUTCOMES, draft.outcome);
  const score = select('rv-score', [['', t('returns.no_score')], ...[5, 4, 3, 2, 1].map((n) => [String(n), t('returns.score', { n })])], '');
  const comment = h('textarea', { id: 'rv-comment', rows: 2, maxlength: 4000 });
  const again = h('input', { id: 'rv-call_again_at', type: 'datetime-local' });
  const errEl = h('div', { id: 'rv-error', class: 'error-box', role: 'alert', hidden: true });
  const scoreField = field('rv-score', t('returns.col_score'), score);
  const againField = field('rv-call_again_at', t('returns.when_again'), again);
  const shape = () => {
    scoreField.hidden = outcome.value !== 'reached';
    againField.hidden = outcome.value !== 'call_again';
    state.returnVisit = { job: id, outcome: outcome.value };
  };
  outcome.addEventListener('change', shape);
  const form = h('form', { id: 'return-visit-form', class: 'return-visit', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const body = { outcome: outcome.value, comment: comment.value.trim() };
    if (outcome.value === 'reached' && score.value) body.score = Number(score.value);
    if (outcome.value === 'call_again' && again.value) body.call_again_at = parseLocalInput(again.value);
    form.querySelectorAll('.invalid').forEach((el) => { el.classList.remove('invalid'); el.removeAttribute('aria-invalid'); });
    try {
      await api('POST', `/v1/jobs/${enc(id)}/return-visits`, body);
      state.returnVisit = null;
      forgetProblems('return-visit');
      // Recorded: what was typed is not carried onto the fresh page.
      form.querySelectorAll('[data-dirty]').forEach((el) => { delete el.dataset.dirty; });
      rerender();
    } catch (err) {
      if (err.status === 401) return;
      keepProblems('return-visit', errEl, err, inputOf);
    }
  } },
  h('h3', {}, t('returns.record')), errEl,
  h('div', { class: 'rv-grid' }, field('rv-outcome', t('returns.col_outcome'), outcome), scoreField, againField),
  field('rv-comment', t('returns.col_comment'), comment),
  h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('returns.save'))));
  const inputOf = (path) => form.querySelector(`#rv-${path}`);
  shape();
  restoreProblems('return-visit', errEl, inputOf);
  return form;
}
