// Fieldsync console: the open reminders view (#/reminders), everybody's or only mine, grouped
// by job under the customer's name.

import { state } from './state.js';
import { route } from './hooks.js';
import { enc, h } from './dom.js';
import { api } from './api.js';
import { errorBox, showError, clearError } from './actions.js';
import { rerender } from './hooks.js';
import { setBadge, refreshBadge, reminderItem, isMine } from './widgets.js';
import { errorText, t } from './i18n.js';

/** Acknowledges each of `reminders` (the caller's own, still open), one request each; says
 *  how many failed and why the first did. */
async function acknowledgeAll(reminders) {
  let failed = 0;
  let first = null;
  for (const r of reminders) {
    try {
      await api('POST', `/v1/reminders/${enc(r.id)}/ack`);
    } catch (err) {
      if (err && err.status === 401) return;
      failed += 1;
      first = first || err;
    }
  }
  if (failed) showError('reminders-error', `${t('reminders.ack_failed', { n: failed, total: reminders.length })} ${errorText(first)}`);
  else clearError('reminders-error');
  refreshBadge();
  rerender();
}

/** A button acknowledging `reminders`' open ones addressed to the caller: for the page when
 *  there is one (`id`), for a job when there are several (one has its own button). */
function acknowledgeButton(reminders, text, id) {
  const open = reminders.filter((r) => r.acknowledged_at == null && isMine(r));
  if (open.length < (id ? 1 : 2)) return null;
  return h('button', { type: 'button', class: ['btn', 'ack-btn', 'ack-many', !id && 'small'], id, onclick: () => acknowledgeAll(open) },
    t(text, { n: open.length }));
}

export async function viewReminders() {
  // "Only mine": those addressed to me or to my role (my ring); otherwise everybody's.
  const list = await api('GET', `/v1/reminders${state.remindersMine ? '?mine=true' : ''}`);
  if (!state.remindersMine) setBadge(list.length);
  const mine = h('input', { type: 'checkbox', id: 'reminders-mine' });
  mine.checked = !!state.remindersMine;
  mine.addEventListener('change', () => { state.remindersMine = mine.checked; route(); });
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, t('reminders.title'), ' ', h('span', { class: 'count' }, String(list.length))),
    h('div', { class: 'toolbar' },
      h('label', { class: 'filter-toggle', for: 'reminders-mine' }, mine, ' ', t('reminders.only_mine')),
      acknowledgeButton(list, 'reminders.ack_all_mine', 'ack-all-mine')),
    errorBox('reminders-error'),
    list.length ? byJob(list).map(([job, reminders]) => h('section', { class: 'card reminder-group', 'data-job-id': job },
      h('h2', {}, h('a', { href: `#/jobs/${enc(job)}` }, reminders[0].customer_name || job), ' ',
        h('span', { class: 'count' }, String(reminders.length)), ' ',
        acknowledgeButton(reminders, 'reminders.ack_job_mine', null)),
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
