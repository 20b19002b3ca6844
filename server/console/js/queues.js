// Fieldsync console: the queues view (#/queues): unassigned, unscheduled, overdue, escalated
// and flagged jobs, and completed jobs waiting for their return-visit call.

import { enc, h, label, fmtWhen, dueSpan, tierBadge, ringBadge, priorityBadge } from './dom.js';
import { api } from './api.js';
import { clockLabel, t } from './i18n.js';
import { flagText } from './widgets.js';

// Each queue's title is queues.<key> in the catalog.
const QUEUES = ['unassigned', 'unscheduled', 'overdue', 'escalated', 'flagged', 'return_visits'];

export async function viewQueues() {
  const q = await api('GET', '/v1/queues');
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, t('queues.title')),
    h('div', { class: 'queue-grid' }, QUEUES.map((key) => queueSection(key, t(`queues.${key}`), q[key] || []))));
}

function queueSection(key, title, items) {
  return h('section', { id: `queue-${key}`, class: 'card queue', 'aria-labelledby': `queue-${key}-h` },
    h('h2', { id: `queue-${key}-h` }, title, ' ', h('span', { class: 'count' }, String(items.length))),
    items.length ? h('div', { class: 'queue-list' }, items.map(queueItem)) : h('p', { class: 'empty' }, t('queues.empty')));
}

function queueItem(item) {
  const j = item.job;
  return h('a', { class: ['queue-item', j.tier === 'vip' && 'is-vip'], href: `#/jobs/${enc(j.id)}`, 'data-job-id': j.id },
    h('div', { class: 'qi-line' }, tierBadge(j.tier), h('strong', { class: 'qi-customer' }, j.customer_name),
      priorityBadge(j.priority), ringBadge(j.ring)),
    h('div', { class: 'qi-line muted' }, label(j.kind), ' · ', [j.category, j.region].filter(Boolean).join(' / ') || '—',
      j.assignee ? ` · ${j.assignee}` : ''),
    item.due != null ? h('div', { class: 'qi-due' }, h('span', { class: 'clock-name' }, clockLabel(item.clock || 'due')), ' ',
      dueSpan(item.due), h('span', { class: 'muted' }, ` · ${fmtWhen(item.due)}`)) : null,
    h('div', { class: 'qi-note' }, queueNote(item)));
}

/** Why the job is in the queue, worded from the server's reason (its English `note` when the
 *  reason is one this page does not know). */
function queueNote(item) {
  const j = item.job;
  switch (item.reason) {
    case 'no_installer': return t('queues.note_no_installer');
    case 'no_appointment': return t('queues.note_no_appointment');
    case 'overdue': return t('queues.note_overdue', { clock: clockLabel(item.clock) });
    case 'escalated': return t('queues.note_ring', { ring: j.ring });
    case 'help_requested': return t('queues.note_ring_help', { ring: j.ring });
    case 'flagged': return [j.status === 'incomplete' ? t('queues.note_incomplete') : null,
      ...(item.flags || []).map(flagText)].filter(Boolean).join(t('queues.note_separator'));
    case 'return_visit_due': return item.call_again_at != null
      ? t('queues.note_call_again', { time: fmtWhen(item.call_again_at) }) : t('queues.note_return_visit');
    default: return item.note;
  }
}
