// Fieldsync: the customer's own page (/r/TOKEN), opened from the link the office sends once the
// job is completed. No sign-in: the link is the credential. In Chinese or English as the
// browser prefers (or as chosen here), made for a phone: the job as the customer knows it, the
// signed report when the server holds it, a rating of the service and a complaint, each sent to
// the server (/v1/reports/TOKEN/…), which records it in the job.

import { $, h, label, fmtDateTime } from './dom.js';
import { api } from './api.js';
import { LANGUAGES, errorText, preferredLanguage, rememberLanguage, t, useLanguage, language } from './i18n.js';

const token = decodeURIComponent(location.pathname.split('/').filter(Boolean).pop() || '');
const base = `/v1/reports/${encodeURIComponent(token)}`;

async function start() {
  await useLanguage(preferredLanguage());
  document.title = t('link.title');
  try {
    render(await api('GET', `${base}/page`));
  } catch (err) {
    $('app').replaceChildren(h('div', { class: 'card link-card' }, h('h1', {}, t('link.title')),
      h('p', { class: 'error-box', role: 'alert' }, errorText(err))));
  }
}

/** The whole page for `p` (the server's view of the job). */
function render(p) {
  const done = (key, params) => h('p', { class: 'link-done', role: 'status' }, t(key, params));
  $('app').replaceChildren(
    h('header', { class: 'link-head' }, h('h1', {}, t('link.title')), languageMenu()),
    h('section', { class: 'card link-card', 'aria-labelledby': 'link-job-h' },
      h('h2', { id: 'link-job-h' }, t('link.hello', { name: p.customer_name })),
      h('dl', { class: 'kv' }, [
        [t('link.kind'), label(p.kind)], [t('link.status'), label(p.status)],
        [t('link.completed'), p.completed_at != null ? fmtDateTime(p.completed_at) : '—'],
        [t('link.engineer'), p.engineer || '—'], [t('link.address'), p.address || '—'],
        [t('link.product'), p.product_model || '—'],
      ].flatMap(([k, v]) => [h('dt', {}, k), h('dd', {}, v)])),
      p.report
        ? h('a', { id: 'link-report', class: 'btn primary', href: base, download: `service-report-${p.job_id}.pdf` }, t('link.report_download'))
        : h('p', { id: 'link-report', class: 'muted' }, t('link.report_pending'))),
    ratingCard(p, done),
    complaintCard(p, done),
    h('p', { class: 'muted link-foot' }, t('link.expires', { time: fmtDateTime(p.expires_at) })));
}

function languageMenu() {
  const menu = h('select', { id: 'link-language', 'aria-label': t('shell.language'),
    onchange: (e) => { rememberLanguage(e.target.value); location.reload(); } },
  LANGUAGES.map(([tag, name]) => h('option', { value: tag, lang: tag }, name)));
  menu.value = language();
  return menu;
}

function ratingCard(p, done) {
  const error = h('p', { id: 'link-rating-error', class: 'error-box', role: 'alert', hidden: true });
  const stars = h('div', { class: 'stars-input', role: 'radiogroup', 'aria-label': t('link.rate_label') },
    [1, 2, 3, 4, 5].map((n) => h('label', { class: 'star' },
      h('input', { type: 'radio', name: 'score', value: String(n), id: `link-score-${n}` }),
      h('span', { 'aria-hidden': 'true' }, '★'), h('span', { class: 'sr-only' }, t('link.score', { n })))));
  const comment = h('textarea', { id: 'link-rating-comment', rows: 3, maxlength: 2000 });
  const form = h('form', { id: 'link-rating-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    const chosen = form.querySelector('input[name=score]:checked');
    if (!chosen) {
      error.textContent = t('link.rate_choose');
      error.hidden = false;
      return;
    }
    try {
      render(await api('POST', `${base}/rating`, { score: Number(chosen.value), comment: comment.value.trim() }));
    } catch (err) {
      error.textContent = errorText(err);
      error.hidden = false;
    }
  } },
  stars, h('label', { for: 'link-rating-comment' }, t('link.comment')), comment, error,
  h('button', { type: 'submit', class: 'btn primary' }, t('link.send_rating')));
  return h('section', { class: 'card link-card', 'aria-labelledby': 'link-rate-h' },
    h('h2', { id: 'link-rate-h' }, t('link.rate_title')),
    p.rating ? done('link.rated', { score: p.rating.score }) : h('p', { class: 'muted' }, t('link.rate_hint')),
    form);
}

function complaintCard(p, done) {
  const error = h('p', { id: 'link-complaint-error', class: 'error-box', role: 'alert', hidden: true });
  const kind = h('select', { id: 'link-complaint-kind' },
    p.complaint_kinds.map((k) => h('option', { value: k }, label(k))));
  const description = h('textarea', { id: 'link-complaint-description', rows: 4, maxlength: 2000, required: true });
  const form = h('form', { id: 'link-complaint-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    if (!description.value.trim()) {
      error.textContent = t('link.complaint_empty');
      error.hidden = false;
      description.focus();
      return;
    }
    try {
      render(await api('POST', `${base}/complaints`, { kind: kind.value, description: description.value.trim() }));
    } catch (err) {
      error.textContent = errorText(err);
      error.hidden = false;
    }
  } },
  h('label', { for: 'link-complaint-kind' }, t('link.complaint_kind')), kind,
  h('label', { for: 'link-complaint-description' }, t('link.complaint_description')), description, error,
  h('button', { type: 'submit', class: 'btn danger' }, t('link.send_complaint')));
  return h('section', { class: 'card link-card', 'aria-labelledby': 'link-complain-h' },
    h('h2', { id: 'link-complain-h' }, t('link.complain_title')),
    p.complaints.length
      ? [done('link.complaint_received'), h('ul', { id: 'link-complaints', class: 'plain' }, p.complaints.map((c) => h('li', {},
        t('link.complaint_item', { kind: label(c.kind), time: fmtDateTime(c.at), id: c.job_id }),
        c.answer ? h('p', { class: 'help-answer' }, t('link.complaint_answer', { time: fmtDateTime(c.answered_at) }), ' ', c.answer) : null,
        c.outcome ? h('p', { class: 'muted' }, t('link.complaint_outcome', { outcome: label(c.outcome) })) : null)))]
      : h('p', { class: 'muted' }, t('link.complain_hint')),
    form);
}

start();
