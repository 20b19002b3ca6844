// Fieldsync console: the open reminders view (#/reminders), everybody's or only mine, grouped
// by job under the customer's name.

import { state } from './state.js';
import { route } from './hooks.js';
import { enc, h } from './dom.js';
import { api } from './api.js';
import { errorBox } from './actions.js';
import { setBadge, reminderItem } from './widgets.js';
import { t } from './i18n.js';

export async function viewReminders() {
  // "Only mine": those addressed to me or to my role (my ring); otherwise everybody's.
  const list = await api('GET', `/v1/reminders${state.remindersMine ? '?mine=true' : ''}`);
  if (!state.remindersMine) setBadge(list.length);
  const mine = h('input', { type: 'checkbox', id: 'reminders-mine' });
  mine.checked = !!state.remindersMine;
  mine.addEventListener('change', () => { state.remindersMine = mine.checked; route(); });
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, t('reminders.title'), ' ', h('span', { class: 'count' }, String(list.length))),
    h('label', { class: 'filter-toggle', for: 'reminders-mine' }, mine, ' ', t('reminders.only_mine')),
    errorBox('reminders-error'),
    list.length ? byJob(list).map(([job, reminders]) => h('section', { class: 'card reminder-group', 'data-job-id': job },
      h('h2', {}, h('a', { href: `#/jobs/${enc(job)}` }, reminders[0].customer_name || job), ' ',
        h('span', { class: 'count' }, String(reminders.length))),
      h('ul', { class: 'reminder-list' }, reminders.map((r) => reminderItem(r, 'reminders-error')))))
      : h('p', { class: 'empty card' }, t('reminders.empty')));
}

/** The reminders per job, in the order the jobs' newest reminders came. */
function byJob(list) {
  const groups = new Map();
  for (const r of list) {
    if (!groups.has(r.job_id)) groups.set(r.job_id, []);
    groups.get(r.job_id).push(r);
  }
  return [...groups];
}
