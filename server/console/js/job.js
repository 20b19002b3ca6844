// Fieldsync console: the job page (#/jobs/ID): status actions, correcting its details, customer,
// product, field record, media and the signed service report, clocks, the return visit, what
// the customer was told, appointment, escalation, reminders, status trail and history.

import { DEFAULT_VISIT } from './constants.js';
import { state } from './state.js';
import {
  $, enc, h, field, dl, section, label, fmtDuration, fmtDateTime, fmtRange, fmtAny, fmtSize,
  localDay, toLocalInput, parseLocalInput, dueSpan, tierBadge, ringBadge, priorityBadge, statusChip,
  table, td, deviceName, focusWhenShown, positionText,
} from './dom.js';
import { api, blobUrl } from './api.js';
import { clockLabel, errorText, fieldLabel, readsServerEnglish, t, termLabel } from './i18n.js';
import { errorBox, showError, clearError, act } from './actions.js';
import { fillEndFromStart, flagText, suggestionList, reminderItem } from './widgets.js';
import { correctButton, correctionForm } from './correct.js';
import { returnVisits } from './returnvisit.js';
import { notificationList } from './notifications.js';
import { complaintHandling, escalation } from './handling.js';
import { categoryName, regionName } from './lists.js';

// ---------------------------------------------------------------- job page

export async function viewJob({ params: [id] }) {
  const v = await api('GET', `/v1/jobs/${enc(id)}`);
  // Flags as the field raised them (the server's `flags` are their English texts).
  const flags = (v.history || []).filter((a) => a.kind === 'flag').map(flagText);
  const { job, summary: sum } = v;
  const sugDay = sum.appointment_start != null ? localDay(sum.appointment_start) : localDay();
  let suggestions;
  try {
    suggestions = suggestionList(await api('GET', `/v1/jobs/${enc(id)}/suggestions?day=${sugDay}`), sum.assignee,
      (user) => act('job-error', (reason) => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: user, override_reason: reason })));
  } catch (err) {
    if (err.status === 401) throw err;
    suggestions = h('p', { class: 'error-box', role: 'alert' }, t('job.suggestions_unavailable', { error: errorText(err) }));
  }
  const c = job.customer || {};
  return h('div', { class: 'page job' },
    h('div', { class: 'job-head' },
      h('div', {},
        h('div', { class: 'job-title-line' }, tierBadge(c.tier || sum.tier),
          h('h1', { id: 'job-title' }, `${c.name || sum.customer_name} — ${label(job.kind)}`)),
        h('div', { class: 'job-meta' },
          h('span', { id: 'job-status', class: `status st-${sum.status}`, 'data-status': sum.status }, label(sum.status)),
          h('span', { id: 'job-ring', class: `ring ring-${sum.ring}`, title: t('job.escalation_ring') }, t('job.ring', { ring: sum.ring })),
          priorityBadge(sum.priority),
          flags.map((f) => h('span', { class: 'badge flag' }, `⚑ ${f}`)),
          h('span', { class: 'muted' }, t('job.meta', { id: job.id, n: v.visits || 0, received: fmtDateTime(job.call_received_at) }))),
        complaintLinks(job)),
      h('div', { class: 'job-head-actions' }, correctButton(id), statusActions(id, sum, owesCall(v.facts)))),
    errorBox('job-error'),
    correctionForm(id, job),
    h('div', { class: 'job-grid' },
      h('div', { class: 'col' },
        section(t('job.customer_and_site'), dl([[t('job.customer'), c.id
          ? h('a', { id: 'job-customer-link', href: `#/customers/${enc(c.id)}`, title: t('job.customer_history') }, c.name) : c.name], [t('job.tier'), c.tier === 'vip' ? t('job.tier_vip') : t('job.tier_standard')],
          [t('job.phone'), c.phone], [t('job.email'), c.email], ...siteRows(job.site || {}), [t('job.region'), job.site && regionName(job.site.region)]])),
        section(t('job.product_and_problem'), productProblem(job)),
        section(t('job.field_record'), fieldRecord(job, sum)),
        mediaBlock(id, v),
        section(t('job.status_trail'), transitionsTable(job.transitions || []))),
      h('div', { class: 'col' },
        section(t('job.clocks'), clocksList(v.clocks || [])),
        section(t('returns.title'), returnVisits(id, job, sum),
          ['completed', 'closed'].includes(sum.status) ? customerLink(id) : null),
        section(t('notify.title'), await notificationList(id)),
        section(t('job.appointment_and_engineer'), appointmentEditor(id, sum),
          h('h3', {}, t('job.suggested_for', { day: sugDay })), suggestions),
        job.kind === 'complaint' ? section(t('handling.complaint_title'), await complaintHandling(id, job)) : null,
        section(t('job.escalation'), escalation(id, job, sum)),
        section(t('job.reminders'), v.reminders && v.reminders.length
          ? h('ul', { class: 'reminder-list' }, v.reminders.map((r) => reminderItem({ ...r, customer_name: c.name }, 'job-error'))) : h('p', { class: 'empty' }, t('job.no_reminders'))),
        section(t('job.flags'), flags.length
          ? h('ul', { class: 'plain' }, flags.map((f) => h('li', {}, `⚑ ${f}`))) : h('p', { class: 'empty' }, t('job.no_flags'))))),
    section(t('job.history'), historyTable(v.history || [])));
}

/** What links a job to complaints: the job a complaint is about, and the complaints raised
 *  about this one. */
function complaintLinks(job) {
  const link = (jobId, text) => h('a', { href: `#/jobs/${enc(jobId)}` }, text);
  const about = job.complaint && job.complaint.about_job ? h('p', { id: 'job-complaint-about', class: 'complaint-line' },
    t('job.complaint_about', { kind: label(job.complaint.kind), source: label(job.complaint.source) }), ' ',
    link(job.complaint.about_job, job.complaint.about_job)) : null;
  const raised = (job.complaints || []).map((c) => h('p', { class: 'complaint-line' },
    t('job.complaint_raised', { kind: label(c.kind), time: fmtDateTime(c.at) }), ' ', link(c.job_id, c.job_id)));
  return [about, ...raised];
}

/** Whether customer service still owes the customer the return-visit call. */
const owesCall = (facts) => !!facts && facts.return_visit_by != null && facts.return_visit_at == null;

/** The moves dispatch can make from the job's status: reopening a visit that ended, closing one
 *  whose feedback is in, cancelling one that has not ended. Cancelling, reopening and closing
 *  before the return-visit call ask for a reason first (the server requires one and the
 *  history keeps it); the question and what is typed survive the page's live re-renders and a
 *  refusal. */

function statusActions(id, sum, uncalled) {
  const ended = ['completed', 'incomplete', 'cancelled', 'closed'].includes(sum.status);
  const group = h('div', { id: 'job-status-actions', class: 'actions', role: 'group', 'aria-label': t('job.status_actions') });
  const move = (to, reason) => act('job-error', async () => {
    await api('POST', `/v1/jobs/${enc(id)}/status`, reason ? { to, reason } : { to });
    state.statusAsk = null;
  });
  const btn = (to, text, onclick) => h('button', {
    type: 'button', class: ['btn', 'status-btn', to === 'cancelled' && 'danger'], 'data-to': to, onclick,
  }, text);
  const buttons = () => [
    // Reopening brings the job back to its engineer when it has one, else back to planning.
    ended ? btn(sum.assignee ? 'assigned' : 'scheduled', t('job.reopen'), () => askReason(sum.assignee ? 'assigned' : 'scheduled')) : null,
    ended && sum.assignee ? btn('scheduled', t('job.reopen_unassigned'), () => askReason('scheduled')) : null,
    ['completed', 'incomplete'].includes(sum.status)
      ? btn('closed', t('job.close_feedback_in'), () => (uncalled ? askReason('closed') : move('closed'))) : null,
    ended ? null : btn('cancelled', t('job.cancel_job'), () => askReason('cancelled')),
  ];
  function askReason(to) {
    const cancelling = to === 'cancelled';
    // Cancel, close (without the return-visit call) or reopen: each asks in its own words.
    const verb = cancelling ? 'cancel' : to === 'closed' ? 'close' : 'reopen';
    const asked = state.statusAsk && state.statusAsk.job === id && state.statusAsk.to === to
      ? state.statusAsk : { job: id, to, reason: '' };
    state.statusAsk = asked;
    const reason = h('textarea', { id: 'job-status-reason', rows: 2, maxlength: 500, required: true,
      oninput: () => { asked.reason = reason.value; } });
    reason.value = asked.reason;
    const confirm = h('button', { id: 'job-status-confirm', type: 'submit', class: ['btn', cancelling ? 'danger' : 'primary'] },
      t(`job.confirm_${verb}`));
    const back = h('button', { type: 'button', class: 'btn ghost', onclick: () => showButtons() }, t('job.keep_status'));
    const form = h('form', { class: 'status-reason', onsubmit: (e) => {
      e.preventDefault();
      move(to, reason.value.trim());
    } }, field('job-status-reason', t(`job.${verb}_reason`), reason), h('div', { class: 'actions' }, confirm, back));
    form.addEventListener('keydown', (e) => { if (e.key === 'Escape') showButtons(); });
    group.replaceChildren(form);
    // Focused once the page is in the document (a live re-render builds it detached).
    focusWhenShown(reason, () => document.activeElement === reason);
  }
  function showButtons() {
    state.statusAsk = null;
    group.replaceChildren(...buttons().filter(Boolean));
  }
  if (state.statusAsk && state.statusAsk.job === id) askReason(state.statusAsk.to);
  else showButtons();
  return group;
}

function productProblem(job) {
  const p = job.product || {};
  const pr = job.problem || {};
  return [
    dl([[t('job.model'), p.model], [t('job.serial'), p.serial], [t('job.installed'), fmtAny(p.install_date)], [t('job.purchase_ref'), p.purchase_ref],
      [t('job.warranty_until'), fmtAny(p.warranty_end)], [t('job.category'), categoryName(pr.category)], [t('job.priority'), label(job.priority)],
      [t('job.created'), fmtDateTime(job.created_at)]]),
    h('p', { class: 'description' }, pr.description || ''),
  ];
}

function clocksList(clocks) {
  if (!clocks.length) return h('p', { class: 'empty' }, t('job.no_clocks'));
  return h('ul', { id: 'job-clocks', class: 'clocks' }, clocks.map((c) => h('li', { class: ['clock', c.state], 'data-clock': c.clock },
    h('span', { class: 'clock-name' }, clockLabel(c.clock)),
    h('span', { class: 'clock-state' }, label(c.state)),
    c.done_at != null ? h('span', {}, t('job.clock_done', { time: fmtDateTime(c.done_at) })) : dueSpan(c.due),
    h('span', { class: 'muted' }, t('job.clock_due', { time: fmtDateTime(c.due) })))));
}

function appointmentEditor(id, sum) {
  const start = h('input', { id: 'job-appt-start', type: 'datetime-local', value: toLocalInput(sum.appointment_start) });
  const end = h('input', { id: 'job-appt-end', type: 'datetime-local', value: toLocalInput(sum.appointment_end) });
  fillEndFromStart(start, end, (v) => toLocalInput(parseLocalInput(v) + DEFAULT_VISIT));
  const save = () => act('job-error', async (reason) => {
    const from = parseLocalInput(start.value);
    const to = parseLocalInput(end.value);
    if (from == null || to == null) throw new Error(t('job.pick_times'));
    await api('POST', `/v1/jobs/${enc(id)}/appointment`, { start: from, end: to, override_reason: reason });
    delete start.dataset.dirty;
    delete end.dataset.dirty;
  });
  return [
    dl([[t('job.appointment'), fmtRange(sum.appointment_start, sum.appointment_end)],
      [t('job.engineer'), sum.assignee ? h('span', {}, sum.assignee, ' ',
        h('button', { type: 'button', class: 'btn ghost small', onclick: () => act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: null })) }, t('common.unassign')))
        : t('common.unassigned')]]),
    h('div', { class: 'appt-editor' }, field('job-appt-start', t('job.appt_start'), start), field('job-appt-end', t('job.appt_end'), end),
      h('button', { id: 'job-appt-save', type: 'button', class: 'btn primary', onclick: save }, t('job.save_appointment'))),
  ];
}

function fieldRecord(job, sum) {
  const checklist = Object.entries(job.checklist || {}).map(([key, item]) => ({ key, ...item }))
    .sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
  const outcome = job.outcome || {};
  const fvs = outcome.first_visit_success ?? sum.first_visit_success;
  const rating = job.rating;
  return [
    h('h3', {}, t('job.checklist')),
    checklist.length ? h('ul', { class: 'checklist' }, checklist.map((it) => h('li', { class: it.done ? 'done' : 'open' },
      h('span', { class: 'mark', 'aria-label': it.done ? t('job.item_done') : t('job.item_not_done') }, it.done ? '✓' : '○'), ' ', it.label || it.key,
      it.value !== null && it.value !== undefined && it.value !== '' ? h('span', { class: 'muted' }, ` — ${it.value}`) : null,
      it.note ? h('div', { class: 'muted note' }, it.note) : null))) : h('p', { class: 'empty' }, t('job.no_checklist')),
    h('h3', {}, t('job.notes')),
    job.notes ? h('p', { class: 'description' }, job.notes) : h('p', { class: 'empty' }, t('job.no_notes')),
    h('h3', {}, t('job.parts')),
    (job.parts || []).length ? table([t('job.col_part'), t('job.col_quantity'), t('job.col_warranty'), t('job.col_by'), t('job.col_at')], job.parts.map((p) => h('tr', {},
      td(p.part_number), td(String(p.quantity)), td(p.under_warranty ? t('common.yes') : t('common.no')), td(p.by), td(fmtDateTime(p.at)))))
      : h('p', { class: 'empty' }, t('job.no_parts')),
    h('h3', {}, t('job.time')),
    (job.time_entries || []).length ? table([t('job.col_kind'), t('job.col_start'), t('job.col_end'), t('job.col_duration'), t('job.col_by')], job.time_entries.map((te) => h('tr', {},
      td(termLabel('time_kind', te.kind)), td(fmtDateTime(te.start)), td(fmtDateTime(te.end)), td(te.end != null ? fmtDuration(te.end - te.start) : t('job.time_running')), td(te.by))))
      : h('p', { class: 'empty' }, t('job.no_time')),
    h('h3', {}, t('job.outcome')),
    dl([[t('job.first_visit_success'), fvs == null ? '—' : fvs ? t('common.yes') : t('common.no')], [t('job.cause'), outcome.cause], [t('job.fix'), outcome.fix], [t('job.summary'), outcome.summary],
      [t('job.signature'), job.signature ? t('job.signature_captured') : t('job.signature_none')],
      [t('job.rating'), rating ? h('span', { class: 'stars', title: t('job.rating_score', { score: rating.score, max: 5 }) }, '★'.repeat(rating.score) + '☆'.repeat(5 - rating.score)) : t('job.not_rated')],
      rating && rating.comment ? [t('job.rating_comment'), rating.comment] : null]),
    h('h3', {}, t('job.photos')),
    (job.photos || []).length ? h('ul', { class: 'plain photos' }, job.photos.map((p) => h('li', {},
      h('strong', {}, p.caption || t('job.untitled')), h('span', { class: 'muted' },
        ' ', t('job.photo_meta', { mime: p.mime, kb: Math.round((p.size || 0) / 1024), taken: fmtDateTime(p.taken_at) }), ' · '),
      h('code', { title: p.sha256 }, String(p.sha256 || '').slice(0, 12)))))
      : h('p', { class: 'empty' }, t('job.no_photos')),
  ];
}

// ---------------------------------------------------------------- job media and report

/** The photos, signature and service report the field record names, and whether the phone
 *  has uploaded their bytes yet; then the signed report and the customer's link to it. */
function mediaBlock(id, v) {
  const media = v.media || [];
  return h('section', { id: 'job-media', class: 'card media', 'aria-labelledby': 'job-media-h' },
    h('h2', { id: 'job-media-h' }, t('job.media')),
    media.length ? h('ul', { id: 'media-list', class: 'media-list' }, media.map(mediaItem))
      : h('p', { class: 'empty' }, t('job.no_media')),
    v.report ? reportBlock(id, v.report) : null);
}

function mediaItem(m) {
  const url = blobUrl(m.sha256);
  const caption = m.caption || label(m.role);
  const open = (child, cls) => h('a', { href: url, target: '_blank', rel: 'noopener', class: cls }, child);
  const image = m.received && m.role !== 'report' && String(m.mime || '').startsWith('image/');
  const glyph = { photo: t('job.glyph_photo'), signature: t('job.glyph_signature'), report: t('job.glyph_report') }[m.role] || t('job.glyph_file');
  return h('li', { class: ['media-item', `role-${m.role}`, m.received ? 'is-received' : 'is-waiting'], 'data-sha256': m.sha256, 'data-role': m.role },
    image ? open(h('img', { class: 'media-thumb', src: url, alt: caption, loading: 'lazy' }), 'media-thumb-link')
      : h('span', { class: 'media-thumb media-glyph', 'aria-hidden': 'true' }, glyph),
    h('div', { class: 'media-body' },
      h('div', { class: 'media-title' }, h('span', { class: 'badge media-role' }, label(m.role)), ' ',
        m.received ? open(caption, 'media-link') : h('span', {}, caption)),
      h('div', { class: 'muted' }, `${m.mime || '—'} · ${fmtSize(m.size)} · `,
        h('span', { class: ['media-state', m.received ? 'received' : 'waiting'] }, m.received ? t('job.media_received') : t('job.media_waiting')))));
}

function reportBlock(id, report) {
  return h('div', { id: 'job-report', class: 'report-box', 'data-received': String(!!report.received) },
    h('h3', {}, t('job.report')),
    h('p', { id: 'report-signed-by' }, t('job.report_signed_by', { name: report.signed_by || '—' })),
    h('p', {}, report.received
      ? h('a', { id: 'report-pdf', href: `/v1/jobs/${enc(id)}/report`, target: '_blank', rel: 'noopener' }, t('job.report_pdf'))
      : h('span', { class: 'muted' }, t('job.report_pdf_waiting'))));
}

/** The customer's link for a completed job (their page: the job, the signed report, a rating,
 *  a complaint), made on request and shown ready to copy. */
function customerLink(id) {
  const saved = state.reportLinks[id];
  const out = h('div', { id: 'report-link-out', class: 'report-link-out', hidden: true });
  if (saved && saved.expires_at > Date.now()) showReportLink(out, saved);
  const button = h('button', {
    id: 'report-link-btn', type: 'button', class: 'btn report-link-btn', title: t('job.report_link_title'),
  }, t('job.report_link'));
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
  return h('div', { class: 'report-actions' }, button, out);
}

/** The customer link in a read-only input, selected on focus for copying. */
function showReportLink(out, link) {
  const input = h('input', { id: 'report-link-url', type: 'text', readonly: true, class: 'report-link-url',
    value: new URL(link.page, location.origin).href, 'aria-label': t('job.report_link_label') });
  input.addEventListener('focus', () => input.select());
  out.replaceChildren(input, h('span', { id: 'report-link-expires', class: 'muted' }, t('job.report_link_expires', { time: fmtDateTime(link.expires_at) })));
  out.hidden = false;
}

function transitionsTable(transitions) {
  if (!transitions.length) return h('p', { class: 'empty' }, t('job.no_transitions'));
  // Scrolls sideways at phone width: reachable from the keyboard.
  return h('div', { class: 'status-trail', tabindex: 0, role: 'region', 'aria-label': t('job.status_trail') }, table([t('job.col_at'), t('job.col_to'), t('job.col_by'), t('job.col_device'), t('job.col_location')], transitions.map((tr) => h('tr', {},
    td(fmtDateTime(tr.at)), td(statusChip(tr.to)), td(tr.role ? t('job.by_role', { by: tr.by || '—', role: label(tr.role) }) : tr.by || '—'), td(deviceName(tr.device)),
    td(tr.lat != null && tr.lon != null ? `${Number(tr.lat).toFixed(4)}, ${Number(tr.lon).toFixed(4)}` : null)))));
}

/** Audit trail. The column heads sit in their own table so that #job-history holds exactly
 *  one row per entry; both tables share fixed column widths. */
function historyTable(history) {
  const cols = () => h('colgroup', {}, ['c-time', 'c-time', 'c-kind', 'c-user', 'c-dev', 'c-fields', 'c-detail'].map((c) => h('col', { class: c })));
  return h('div', { class: 'history', tabindex: 0, role: 'region', 'aria-label': t('job.history') },
    h('table', { class: 'data history-head', 'aria-hidden': 'true' }, cols(),
      h('thead', {}, h('tr', {}, [t('job.history_server_time'), t('job.history_device_time'), t('job.history_kind'), t('job.history_user'),
        t('job.history_device'), t('job.history_fields'), t('job.history_detail')].map((text) => h('th', {}, text))))),
    h('table', { id: 'job-history', class: 'data history-body', 'aria-label': t('job.history_label') }, cols(),
      h('tbody', {}, history.map((a) => h('tr', { 'data-audit-id': a.id, class: `k-${a.kind}` },
        td(fmtDateTime(a.server_time)), td(a.device_time != null ? fmtDateTime(a.device_time) : null),
        td(h('span', { class: `badge kind k-${a.kind}` }, label(a.kind))), td(a.user || a.actor), td(deviceName(a.device)),
        td((a.fields || []).map(fieldLabel).join(t('common.list_separator')), 'fields'), auditDetail(a))))),
    history.length ? null : h('p', { class: 'empty' }, t('job.no_history')));
}

/** The detail of an audit entry in words: the server records its own entries in English, so in
 *  another language the kinds it writes are worded here, with the English in the cell's title. */
function auditDetail(a) {
  const corrections = a.kind === 'change' ? correctionLines(a.detail) : null;
  if (corrections) return td(h('ul', { class: 'plain corrections' }, corrections));
  if (readsServerEnglish()) return td(a.detail);
  const words = {
    compensation: () => t('job.audit_compensation'),
    violation: () => t('job.audit_violation'),
    flag: () => flagText(a),
    purge: () => t('job.audit_purge'),
    leave: () => (a.detail ? t('job.audit_left_closed') : null),
  }[a.kind];
  const text = words ? words() : null;
  const cell = td(text || a.detail);
  if (text && a.detail) cell.title = a.detail;
  return cell;
}

/** A correction's detail (`field: before → after` per line, values as JSON, then the reason)
 *  as list items in words: the field as forms call it, times in the organisation's clock,
 *  values of enumerations translated. Null for any other detail. */
function correctionLines(detail) {
  const lines = (detail || '').split('\n');
  const parsed = lines.map(parseCorrection);
  if (!parsed[0]) return null;
  const shown = (path, value) => {
    if (value === null || value === '') return '—';
    if (typeof value === 'number' && /(_by|_date|_end)$/.test(path)) return fmtDateTime(value);
    if (typeof value === 'number' && /_ms$/.test(path)) return fmtDuration(value);
    if (path === 'site.region') return regionName(value);
    if (path === 'problem.category') return categoryName(value);
    return /^(kind|priority|customer\.tier)$/.test(path) ? label(value) : String(value);
  };
  return parsed.map((c, i) => h('li', {}, c
    ? [h('span', { class: 'field-name' }, fieldLabel(c.field)), ': ', h('del', {}, shown(c.field, c.before)), ' → ', h('ins', {}, shown(c.field, c.after))]
    : lines[i]));
}

/** `field: before → after` with JSON values, or null. A value may itself hold ' → '. */
function parseCorrection(line) {
  const head = /^([a-z_]+(?:\.[a-z_]+)?): /.exec(line);
  if (!head) return null;
  const rest = line.slice(head[0].length);
  for (let at = rest.indexOf(' → '); at >= 0; at = rest.indexOf(' → ', at + 1)) {
    try {
      return { field: head[1], before: JSON.parse(rest.slice(0, at)), after: JSON.parse(rest.slice(at + 3)) };
    } catch { /* the arrow was inside a value: try the next */ }
  }
  return null;
}

/** The site's address as dispatch gave it: province, city and district when given, then the
 *  street (a city that is its own province, as 上海市, once). */
function siteRows(site) {
  const rows = [];
  if (site.province) rows.push([t('job.province'), site.province]);
  if (site.city && site.city !== site.province) rows.push([t('job.city'), site.city]);
  if (site.district) rows.push([t('job.district'), site.district]);
  rows.push([t('job.address'), site.address]);
  if (positionText(site)) rows.push([t('job.position'), h('a', { href: '#/map', id: 'job-position' }, positionText(site))]);
  return rows;
}
