// Fieldsync console: what the customer was told about the job (GET /v1/jobs/ID/notifications):
// each notification (appointment booked or moved, engineer on the way, work completed, survey,
// complaint answered) with one row per channel's delivery: to whom, where it stands, attempts,
// and why the last attempt failed or when the next is due.

import { enc, h, fmtDateTime, table, td } from './dom.js';
import { api } from './api.js';
import { errorText, t } from './i18n.js';

/** The section's content for job `id`. */
export async function notificationList(id) {
  let list;
  try {
    list = await api('GET', `/v1/jobs/${enc(id)}/notifications`);
  } catch (err) {
    if (err.status === 401) throw err;
    return h('p', { class: 'error-box', role: 'alert' }, t('notify.unavailable', { error: errorText(err) }));
  }
  if (!list.length) return h('p', { class: 'empty' }, t('notify.none'));
  const rows = list.flatMap((n) => {
    const event = t(`notify.event.${n.event}`);
    if (!n.deliveries.length) {
      return [h('tr', { 'data-event': n.event }, td(fmtDateTime(n.created_at)), td(event), td(null), td(null),
        td(t('notify.waiting')), td(null))];
    }
    return n.deliveries.map((d) => h('tr', { 'data-event': n.event, 'data-channel': d.channel, 'data-status': d.status },
      td(fmtDateTime(n.created_at)), td(event), td(t(`notify.channel.${d.channel}`)), td(d.recipient, 'recipient'),
      td(h('span', { class: `delivery st-${d.status}` }, t(`notify.status.${d.status}`))),
      td(detail(d))));
  });
  // Wide: it scrolls inside its card at phone width, as the history does.
  return h('div', { class: 'notifications', tabindex: 0, role: 'region', 'aria-label': t('notify.title') }, table([t('notify.col_at'), t('notify.col_event'), t('notify.col_channel'),
    t('notify.col_to'), t('notify.col_status'), t('notify.col_detail')], rows, { id: 'job-notifications' }));
}

/** Attempts, and what went wrong or comes next. */
function detail(d) {
  const parts = [t('notify.attempts', { n: d.attempts })];
  if (d.status === 'delivered') parts.push(t('notify.delivered_at', { time: fmtDateTime(d.delivered_at) }));
  if (d.status === 'pending' && d.next_attempt_at != null) parts.push(t('notify.next_at', { time: fmtDateTime(d.next_attempt_at) }));
  return h('span', {}, parts.join(' · '),
    d.last_error ? h('span', { class: 'muted delivery-error', title: d.last_error }, ` — ${d.last_error}`) : null);
}
