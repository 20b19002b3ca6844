// Fieldsync console: the job page (#/jobs/ID): status actions, customer, product, field
// record, media and the signed service report, clocks, appointment, escalation, reminders,
// status trail and history.

import { DEFAULT_VISIT } from './constants.js';
import { state } from './state.js';
import {
  $, enc, h, field, dl, section, label, fmtDuration, fmtDateTime, fmtRange, fmtAny, fmtSize,
  localDay, toLocalInput, parseLocalInput, dueSpan, tierBadge, ringBadge, priorityBadge, statusChip,
  table, td,
} from './dom.js';
import { api, blobUrl } from './api.js';
import { errorBox, showError, clearError, act } from './actions.js';
import { fillEndFromStart, suggestionList, reminderItem } from './widgets.js';

// ---------------------------------------------------------------- job page

export async function viewJob({ params: [id] }) {
  const v = await api('GET', `/v1/jobs/${enc(id)}`);
  const { job, summary: sum } = v;
  const sugDay = sum.appointment_start != null ? localDay(new Date(sum.appointment_start)) : localDay();
  let suggestions;
  try {
    suggestions = suggestionList(await api('GET', `/v1/jobs/${enc(id)}/suggestions?day=${sugDay}`), sum.assignee,
      (user) => act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: user })));
  } catch (err) {
    if (err.status === 401) throw err;
    suggestions = h('p', { class: 'error-box', role: 'alert' }, `Suggestions unavailable: ${err.message}`);
  }
  const c = job.customer || {};
  return h('div', { class: 'page job' },
    h('div', { class: 'job-head' },
      h('div', {},
        h('div', { class: 'job-title-line' }, tierBadge(c.tier || sum.tier),
          h('h1', { id: 'job-title' }, `${c.name || sum.customer_name} — ${label(job.kind)}`)),
        h('div', { class: 'job-meta' },
          h('span', { id: 'job-status', class: `status st-${sum.status}`, 'data-status': sum.status }, sum.status.replace(/_/g, ' ')),
          h('span', { id: 'job-ring', class: `ring ring-${sum.ring}`, title: 'Escalation ring' }, `Ring ${sum.ring}`),
          priorityBadge(sum.priority),
          (v.flags || []).map((f) => h('span', { class: 'badge flag' }, `⚑ ${f}`)),
          h('span', { class: 'muted' }, `Job ${job.id} · ${v.visits || 0} visit${v.visits === 1 ? '' : 's'} · received ${fmtDateTime(job.call_received_at)}`))),
      statusActions(id, sum)),
    errorBox('job-error'),
    h('div', { class: 'job-grid' },
      h('div', { class: 'col' },
        section('Customer and site', dl([['Customer', c.name], ['Tier', c.tier === 'vip' ? 'VIP' : 'Standard'],
          ['Phone', c.phone], ['Email', c.email], ['Address', job.site && job.site.address], ['Region', job.site && job.site.region]])),
        section('Product and problem', productProblem(job)),
        section('Field record', fieldRecord(job, sum)),
        mediaBlock(id, v),
        section('Status trail', transitionsTable(job.transitions || []))),
      h('div', { class: 'col' },
        section('Clocks', clocksList(v.clocks || [])),
        section('Appointment and engineer', appointmentEditor(id, sum),
          h('h3', {}, `Suggested engineers for ${sugDay}`), suggestions),
        section('Escalation', escalation(job, sum)),
        section('Reminders', v.reminders && v.reminders.length
          ? h('ul', { class: 'reminder-list' }, v.reminders.map((r) => reminderItem(r, 'job-error'))) : h('p', { class: 'empty' }, 'None.')),
        section('Flags', v.flags && v.flags.length
          ? h('ul', { class: 'plain' }, v.flags.map((f) => h('li', {}, `⚑ ${f}`))) : h('p', { class: 'empty' }, 'None.')))),
    section('History', historyTable(v.history || [])));
}

function statusActions(id, sum) {
  const btn = (to, text) => h('button', {
    type: 'button', class: ['btn', 'status-btn', to === 'cancelled' && 'danger'], 'data-to': to,
    disabled: sum.status === to, onclick: () => act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/status`, { to })),
  }, text);
  // Reopening brings the job back to its engineer when it has one, else back to planning.
  return h('div', { class: 'actions', role: 'group', 'aria-label': 'Status actions' },
    btn(sum.assignee ? 'assigned' : 'scheduled', 'Reopen / follow-up'),
    sum.assignee ? btn('scheduled', 'Reopen unassigned') : null,
    btn('closed', 'Close (feedback in)'),
    btn('cancelled', 'Cancel'));
}

function productProblem(job) {
  const p = job.product || {};
  const pr = job.problem || {};
  return [
    dl([['Model', p.model], ['Serial', p.serial], ['Installed', fmtAny(p.install_date)], ['Purchase ref', p.purchase_ref],
      ['Warranty until', fmtAny(p.warranty_end)], ['Category', pr.category], ['Priority', label(job.priority)],
      ['Created', fmtDateTime(job.created_at)]]),
    h('p', { class: 'description' }, pr.description || ''),
  ];
}

function clocksList(clocks) {
  if (!clocks.length) return h('p', { class: 'empty' }, 'No clocks.');
  return h('ul', { id: 'job-clocks', class: 'clocks' }, clocks.map((c) => h('li', { class: ['clock', c.state], 'data-clock': c.clock },
    h('span', { class: 'clock-name' }, label(c.clock)),
    h('span', { class: 'clock-state' }, label(c.state)),
    c.done_at != null ? h('span', {}, `done ${fmtDateTime(c.done_at)}`) : dueSpan(c.due),
    h('span', { class: 'muted' }, `due ${fmtDateTime(c.due)}`))));
}

function appointmentEditor(id, sum) {
  const start = h('input', { id: 'job-appt-start', type: 'datetime-local', value: toLocalInput(sum.appointment_start) });
  const end = h('input', { id: 'job-appt-end', type: 'datetime-local', value: toLocalInput(sum.appointment_end) });
  fillEndFromStart(start, end, (v) => toLocalInput(parseLocalInput(v) + DEFAULT_VISIT));
  const save = () => act('job-error', async () => {
    const from = parseLocalInput(start.value);
    const to = parseLocalInput(end.value);
    if (from == null || to == null) throw new Error('Pick a start and an end.');
    await api('POST', `/v1/jobs/${enc(id)}/appointment`, { start: from, end: to });
    delete start.dataset.dirty;
    delete end.dataset.dirty;
  });
  return [
    dl([['Appointment', fmtRange(sum.appointment_start, sum.appointment_end)],
      ['Engineer', sum.assignee ? h('span', {}, sum.assignee, ' ',
        h('button', { type: 'button', class: 'btn ghost small', onclick: () => act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: null })) }, 'Unassign'))
        : 'Unassigned']]),
    h('div', { class: 'appt-editor' }, field('job-appt-start', 'Start', start), field('job-appt-end', 'End', end),
      h('button', { id: 'job-appt-save', type: 'button', class: 'btn primary', onclick: save }, 'Save appointment')),
  ];
}

function escalation(job, sum) {
  const helps = (job.escalation && job.escalation.help_requests) || [];
  return [
    h('p', {}, ringBadge(sum.ring), ` Ring ${sum.ring} of 3`),
    helps.length ? h('ul', { class: 'plain' }, helps.map((r) => h('li', {},
      h('strong', {}, r.by), h('span', { class: 'muted' }, ` ${fmtDateTime(r.at)} — `), r.reason)))
      : h('p', { class: 'empty' }, 'No help requested.'),
  ];
}

function fieldRecord(job, sum) {
  const checklist = Object.entries(job.checklist || {}).map(([key, item]) => ({ key, ...item }))
    .sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
  const outcome = job.outcome || {};
  const fvs = outcome.first_visit_success ?? sum.first_visit_success;
  const rating = job.rating;
  return [
    h('h3', {}, 'Checklist'),
    checklist.length ? h('ul', { class: 'checklist' }, checklist.map((it) => h('li', { class: it.done ? 'done' : 'open' },
      h('span', { class: 'mark', 'aria-label': it.done ? 'done' : 'not done' }, it.done ? '✓' : '○'), ' ', it.label || it.key,
      it.value !== null && it.value !== undefined && it.value !== '' ? h('span', { class: 'muted' }, ` — ${it.value}`) : null,
      it.note ? h('div', { class: 'muted note' }, it.note) : null))) : h('p', { class: 'empty' }, 'No checklist.'),
    h('h3', {}, 'Notes'),
    job.notes ? h('p', { class: 'description' }, job.notes) : h('p', { class: 'empty' }, 'No notes.'),
    h('h3', {}, 'Parts'),
    (job.parts || []).length ? table(['Part', 'Qty', 'Warranty', 'By', 'At'], job.parts.map((p) => h('tr', {},
      td(p.part_number), td(String(p.quantity)), td(p.under_warranty ? 'Yes' : 'No'), td(p.by), td(fmtDateTime(p.at)))))
      : h('p', { class: 'empty' }, 'No parts used.'),
    h('h3', {}, 'Time'),
    (job.time_entries || []).length ? table(['Kind', 'Start', 'End', 'Duration', 'By'], job.time_entries.map((t) => h('tr', {},
      td(label(t.kind)), td(fmtDateTime(t.start)), td(fmtDateTime(t.end)), td(t.end != null ? fmtDuration(t.end - t.start) : 'running'), td(t.by))))
      : h('p', { class: 'empty' }, 'No time booked.'),
    h('h3', {}, 'Outcome'),
    dl([['First visit success', fvs == null ? '—' : fvs ? 'Yes' : 'No'], ['Cause', outcome.cause], ['Fix', outcome.fix], ['Summary', outcome.summary],
      ['Signature', job.signature ? 'Captured' : 'None'],
      ['Rating', rating ? h('span', { class: 'stars', title: `${rating.score} of 5` }, '★'.repeat(rating.score) + '☆'.repeat(5 - rating.score)) : 'Not rated'],
      rating && rating.comment ? ['Comment', rating.comment] : null]),
    h('h3', {}, 'Photos'),
    (job.photos || []).length ? h('ul', { class: 'plain photos' }, job.photos.map((p) => h('li', {},
      h('strong', {}, p.caption || 'Untitled'), h('span', { class: 'muted' },
        ` ${p.mime} · ${Math.round((p.size || 0) / 1024)} KB · ${fmtDateTime(p.taken_at)} · `),
      h('code', { title: p.sha256 }, String(p.sha256 || '').slice(0, 12)))))
      : h('p', { class: 'empty' }, 'No photos.'),
  ];
}

// ---------------------------------------------------------------- job media and report

/** The photos, signature and service report the field record names, and whether the phone
 *  has uploaded their bytes yet; then the signed report and the customer's link to it. */
function mediaBlock(id, v) {
  const media = v.media || [];
  return h('section', { id: 'job-media', class: 'card media', 'aria-labelledby': 'job-media-h' },
    h('h2', { id: 'job-media-h' }, 'Media'),
    media.length ? h('ul', { id: 'media-list', class: 'media-list' }, media.map(mediaItem))
      : h('p', { class: 'empty' }, 'No photos, signature or report yet.'),
    v.report ? reportBlock(id, v.report) : null);
}

function mediaItem(m) {
  const url = blobUrl(m.sha256);
  const caption = m.caption || label(m.role);
  const open = (child, cls) => h('a', { href: url, target: '_blank', rel: 'noopener', class: cls }, child);
  const image = m.received && m.role !== 'report' && String(m.mime || '').startsWith('image/');
  const glyph = { photo: 'IMG', signature: 'SIG', report: 'PDF' }[m.role] || 'FILE';
  return h('li', { class: ['media-item', `role-${m.role}`, m.received ? 'is-received' : 'is-waiting'], 'data-sha256': m.sha256, 'data-role': m.role },
    image ? open(h('img', { class: 'media-thumb', src: url, alt: caption, loading: 'lazy' }), 'media-thumb-link')
      : h('span', { class: 'media-thumb media-glyph', 'aria-hidden': 'true' }, glyph),
    h('div', { class: 'media-body' },
      h('div', { class: 'media-title' }, h('span', { class: 'badge media-role' }, label(m.role)), ' ',
        m.received ? open(caption, 'media-link') : h('span', {}, caption)),
      h('div', { class: 'muted' }, `${m.mime || '—'} · ${fmtSize(m.size)} · `,
        h('span', { class: ['media-state', m.received ? 'received' : 'waiting'] }, m.received ? 'received' : 'waiting for the phone'))));
}

function reportBlock(id, report) {
  const saved = state.reportLinks[id];
  const out = h('div', { id: 'report-link-out', class: 'report-link-out', hidden: true });
  if (saved && saved.expires_at > Date.now()) showReportLink(out, saved);
  const button = h('button', {
    id: 'report-link-btn', type: 'button', class: 'btn report-link-btn', disabled: !report.received,
    title: report.received ? 'Make a download link for the customer' : 'Available once the phone has uploaded the report',
  }, 'Customer link');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const link = await api('POST', `/v1/jobs/${enc(id)}/report-link`);
      state.reportLinks[id] = link;
      clearError('job-error');
      const target = $('report-link-out') || out; // a live update may have redrawn the page meanwhile
      showReportLink(target, link);
      const input = target.querySelector('input');
      input.focus();
      input.select();
    } catch (err) {
      showError('job-error', err);
    } finally {
      button.disabled = false;
      if ($('report-link-btn')) $('report-link-btn').disabled = false;
    }
  });
  return h('div', { id: 'job-report', class: 'report-box', 'data-received': String(!!report.received) },
    h('h3', {}, 'Service report'),
    h('p', { id: 'report-signed-by' }, `Signed by ${report.signed_by || '—'}`),
    h('p', {}, report.received
      ? h('a', { id: 'report-pdf', href: `/v1/jobs/${enc(id)}/report`, target: '_blank', rel: 'noopener' }, 'Service report (PDF)')
      : h('span', { class: 'muted' }, 'Service report (PDF): waiting for the phone')),
    h('div', { class: 'report-actions' }, button, out));
}

/** The customer link in a read-only input, selected on focus for copying. */
function showReportLink(out, link) {
  const input = h('input', { id: 'report-link-url', type: 'text', readonly: true, class: 'report-link-url',
    value: new URL(link.url, location.origin).href, 'aria-label': 'Customer link to the signed service report' });
  input.addEventListener('focus', () => input.select());
  out.replaceChildren(input, h('span', { id: 'report-link-expires', class: 'muted' }, `expires ${fmtDateTime(link.expires_at)}`));
  out.hidden = false;
}

function transitionsTable(transitions) {
  if (!transitions.length) return h('p', { class: 'empty' }, 'No status changes yet.');
  return table(['At', 'To', 'By', 'Device', 'Location'], transitions.map((t) => h('tr', {},
    td(fmtDateTime(t.at)), td(statusChip(t.to)), td(`${t.by || '—'}${t.role ? ` (${t.role})` : ''}`), td(t.device),
    td(t.lat != null && t.lon != null ? `${Number(t.lat).toFixed(4)}, ${Number(t.lon).toFixed(4)}` : null))));
}

/** Audit trail. The column heads sit in their own table so that #job-history holds exactly
 *  one row per entry; both tables share fixed column widths. */
function historyTable(history) {
  const cols = () => h('colgroup', {}, ['c-time', 'c-time', 'c-kind', 'c-user', 'c-dev', 'c-fields', 'c-detail'].map((c) => h('col', { class: c })));
  return h('div', { class: 'history' },
    h('table', { class: 'data history-head', 'aria-hidden': 'true' }, cols(),
      h('thead', {}, h('tr', {}, ['Server time', 'Device time', 'Kind', 'User', 'Device', 'Fields', 'Detail'].map((t) => h('th', {}, t))))),
    h('table', { id: 'job-history', class: 'data history-body', 'aria-label': 'History: server time, device time, kind, user, device, fields, detail' }, cols(),
      h('tbody', {}, history.map((a) => h('tr', { 'data-audit-id': a.id, class: `k-${a.kind}` },
        td(fmtDateTime(a.server_time)), td(a.device_time != null ? fmtDateTime(a.device_time) : null),
        td(h('span', { class: `badge kind k-${a.kind}` }, a.kind)), td(a.user || a.actor), td(a.device),
        td((a.fields || []).join(', '), 'fields'), td(a.detail))))),
    history.length ? null : h('p', { class: 'empty' }, 'No entries.'));
}
