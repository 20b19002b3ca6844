// Fieldsync console: pieces shared by several views: the open-reminders badge, a reminder's
// line, the ranked engineer suggestions and the appointment helpers (board and job page).

import { $, enc, h, label, fmtDateTime, ringBadge } from './dom.js';
import { api } from './api.js';
import { act } from './actions.js';
import { state } from './state.js';
import { clockLabel, fieldLabel, readsServerEnglish, reminderText, t } from './i18n.js';
import { regionName } from './lists.js';

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
  return [suggestions.length ? null : h('p', { class: 'empty' }, t('widgets.no_suggestions')),
    h('ol', { id: 'suggestions', class: 'suggestions' }, suggestions.map((sg) => h('li', { class: sg.user === current && 'current' },
      h('div', { class: 'sg-head' },
        h('strong', {}, sg.name || sg.user), h('span', { class: 'muted' }, ` ${regionName(sg.region) || ''}`),
        h('span', { class: 'sg-score', title: t('widgets.score_title') },
          t('widgets.score', { score: Number.isInteger(sg.score) ? sg.score : Number(sg.score).toFixed(2) }))),
      h('div', { class: 'sg-load muted' }, t('widgets.load', { n: sg.load }),
        sg.skills && sg.skills.length ? ` · ${sg.skills.join(t('common.list_separator'))}` : ''),
      h('div', { class: 'sg-reasons' }, suggestionReasons(sg).join(' · ')),
      h('button', { type: 'button', class: 'btn assign-btn', 'data-user': sg.user, onclick: () => onAssign(sg.user) },
        sg.user === current ? t('widgets.assigned') : t('widgets.assign'))))),
  ];
}

/** Why an engineer's working week keeps them from a visit (a suggestion's `unavailable`, a
 *  board row's `away`), in words. The reason for time off stays in the editor: the board is
 *  read by the whole office. */
function unavailableText(why) {
  if (why.kind === 'time_off') return t('hours.away', why);
  return why.kind === 'day_off' ? t('hours.day_off') : t('hours.outside', why);
}

/** What an engineer's working week says of a board row's day: away, or their hours; null
 *  when the office gave them no working week. */
export function hoursText(row) {
  if (row.away) return unavailableText(row.away);
  return row.shift ? t('hours.shift', row.shift) : null;
}

/** Why an engineer is suggested, in the page's language, from the suggestion's facts. */
function suggestionReasons(sg) {
  const skills = sg.matched_skills || [];
  return [
    skills.length ? t('widgets.reason_knows', { skills: skills.join(t('common.list_separator')) }) : t('widgets.reason_no_skill'),
    sg.same_region ? t('widgets.reason_works_in', { region: regionName(sg.region) })
      : sg.region ? t('widgets.reason_based_in', { region: regionName(sg.region) }) : null,
    sg.load ? t('widgets.reason_load', { n: sg.load, day: sg.day }) : t('widgets.reason_free', { day: sg.day }),
    sg.busy_with ? t('widgets.reason_busy', { customer: sg.busy_with.customer_name }) : null,
    sg.unavailable ? unavailableText(sg.unavailable) : sg.shift && t('hours.shift', sg.shift),
    sg.km != null ? t('widgets.reason_km', { km: sg.km.toLocaleString() }) : null,
  ].filter(Boolean);
}

/** A flag from the field: a rule the phone broke (by field), or work from a previous assignee. */
export function flagText(f) {
  if (readsServerEnglish()) return f.kind === 'violation' ? t('queues.flag_violation_detail', { detail: f.detail }) : f.detail;
  if (f.kind === 'violation') return t('queues.flag_violation', { fields: (f.fields || []).map(fieldLabel).join(t('common.list_separator')) });
  if (f.user) return t('queues.flag_previous_assignee', { user: f.user });
  return f.detail;
}

// ---------------------------------------------------------------- reminders

/** Whether the signed-in user is among the reminder's recipients. */
export function isMine(r) {
  const me = state.me || {};
  return r.to_user ? r.to_user === me.user : r.to_role === me.role;
}

/** One reminder: acknowledged by whom and when, or a button for its recipients (the person it
 *  names, or anyone of the role it names: the server accepts no one else). */
export function reminderItem(r, errorId) {
  const mine = isMine(r);
  return h('li', { class: ['reminder', `ring-${r.ring}`], 'data-reminder-id': r.id },
    ringBadge(r.ring),
    h('div', { class: 'rm-body' },
      h('div', {}, h('strong', {}, clockLabel(r.clock)), ' — ', reminderText(r)),
      h('div', { class: 'muted' }, t('widgets.reminder_to', { who: r.to_user || label(r.to_role) }), ` · ${fmtDateTime(r.created_at)} · `,
        h('a', { href: `#/jobs/${enc(r.job_id)}` }, t('widgets.open_job')))),
    r.acknowledged_at != null
      ? h('span', { class: 'muted ack-by' }, r.acknowledged_by
        ? t('widgets.acknowledged_by', { who: r.acknowledged_by, when: fmtDateTime(r.acknowledged_at) })
        : t('widgets.acknowledged_at', { when: fmtDateTime(r.acknowledged_at) }))
      : mine ? h('button', { type: 'button', class: 'btn ack-btn', onclick: () => act(errorId, async () => {
        await api('POST', `/v1/reminders/${enc(r.id)}/ack`);
        refreshBadge();
      }) }, t('widgets.acknowledge')) : h('span', { class: 'muted' }, t('widgets.not_yet_acknowledged')));
}
