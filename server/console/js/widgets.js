// Fieldsync console: pieces shared by several views: the open-reminders badge, a reminder's
// line, the ranked engineer suggestions and the appointment helpers (board and job page).

import { $, enc, h, label, fmtDateTime, ringBadge } from './dom.js';
import { api } from './api.js';
import { act } from './actions.js';

// ---------------------------------------------------------------- open reminders badge

export async function refreshBadge() {
  try { setBadge((await api('GET', '/v1/reminders')).length); } catch (e) { /* the badge keeps its last count */ }
}
export function setBadge(n) {
  const el = $('reminder-count');
  if (!el) return;
  el.textContent = String(n);
  el.classList.toggle('has-open', n > 0);
}

// ---------------------------------------------------------------- appointments and suggestions (day board and job page)

/** When a start is picked and the end is still empty, propose an end. */
export function fillEndFromStart(start, end, propose) {
  start.addEventListener('change', () => {
    if (start.value && !end.value) { end.value = propose(start.value); end.dataset.dirty = '1'; }
  });
}

/** Ranked engineers for a job; shared by the board panel and the job page. */
export function suggestionList(suggestions, current, onAssign) {
  return [suggestions.length ? null : h('p', { class: 'empty' }, 'No engineers to suggest.'),
    h('ol', { id: 'suggestions', class: 'suggestions' }, suggestions.map((sg) => h('li', { class: sg.user === current && 'current' },
      h('div', { class: 'sg-head' },
        h('strong', {}, sg.name || sg.user), h('span', { class: 'muted' }, ` ${sg.region || ''}`),
        h('span', { class: 'sg-score', title: 'Score' }, `score ${Number.isInteger(sg.score) ? sg.score : Number(sg.score).toFixed(2)}`)),
      h('div', { class: 'sg-load muted' }, `${sg.load} job${sg.load === 1 ? '' : 's'} that day`,
        sg.skills && sg.skills.length ? ` · ${sg.skills.join(', ')}` : ''),
      sg.reasons && sg.reasons.length ? h('div', { class: 'sg-reasons' }, sg.reasons.join(' · ')) : null,
      h('button', { type: 'button', class: 'btn assign-btn', 'data-user': sg.user, onclick: () => onAssign(sg.user) },
        sg.user === current ? 'Assigned ✓' : 'Assign')))),
  ];
}

// ---------------------------------------------------------------- reminders

export function reminderItem(r, errorId) {
  return h('li', { class: ['reminder', `ring-${r.ring}`], 'data-reminder-id': r.id },
    ringBadge(r.ring),
    h('div', { class: 'rm-body' },
      h('div', {}, h('strong', {}, label(r.clock)), ' — ', r.message),
      h('div', { class: 'muted' }, `to ${r.to_user || label(r.to_role)} · ${fmtDateTime(r.created_at)} · `,
        h('a', { href: `#/jobs/${enc(r.job_id)}` }, 'open job'))),
    r.acknowledged_at != null
      ? h('span', { class: 'muted' }, `acknowledged ${fmtDateTime(r.acknowledged_at)}`)
      : h('button', { type: 'button', class: 'btn ack-btn', onclick: () => act(errorId, async () => {
        await api('POST', `/v1/reminders/${enc(r.id)}/ack`);
        refreshBadge();
      }) }, 'Acknowledge'));
}
