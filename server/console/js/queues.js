// Fieldsync console: the queues view (#/queues): unassigned, unscheduled, overdue, escalated
// and flagged jobs.

import { enc, h, label, fmtWhen, dueSpan, tierBadge, ringBadge, priorityBadge } from './dom.js';
import { api } from './api.js';

const QUEUES = [
  ['unassigned', 'Unassigned'], ['unscheduled', 'Unscheduled'], ['overdue', 'Overdue'],
  ['escalated', 'Escalated'], ['flagged', 'Flagged'],
];

export async function viewQueues() {
  const q = await api('GET', '/v1/queues');
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, 'Queues'),
    h('div', { class: 'queue-grid' }, QUEUES.map(([key, title]) => queueSection(key, title, q[key] || []))));
}

function queueSection(key, title, items) {
  return h('section', { id: `queue-${key}`, class: 'card queue', 'aria-labelledby': `queue-${key}-h` },
    h('h2', { id: `queue-${key}-h` }, title, ' ', h('span', { class: 'count' }, String(items.length))),
    items.length ? h('div', { class: 'queue-list' }, items.map(queueItem)) : h('p', { class: 'empty' }, 'Nothing here.'));
}

function queueItem(item) {
  const j = item.job;
  return h('a', { class: ['queue-item', j.tier === 'vip' && 'is-vip'], href: `#/jobs/${enc(j.id)}`, 'data-job-id': j.id },
    h('div', { class: 'qi-line' }, tierBadge(j.tier), h('strong', { class: 'qi-customer' }, j.customer_name),
      priorityBadge(j.priority), ringBadge(j.ring)),
    h('div', { class: 'qi-line muted' }, label(j.kind), ' · ', [j.category, j.region].filter(Boolean).join(' / ') || '—',
      j.assignee ? ` · ${j.assignee}` : ''),
    item.due != null ? h('div', { class: 'qi-due' }, h('span', { class: 'clock-name' }, label(item.clock || 'due')), ' ',
      dueSpan(item.due), h('span', { class: 'muted' }, ` · ${fmtWhen(item.due)}`)) : null,
    item.note ? h('div', { class: 'qi-note' }, item.note) : null);
}
