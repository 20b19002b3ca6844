// Fieldsync console: one engineer's week (#/week?engineer=ID&from=YYYY-MM-DD): their visits on
// seven days from a Monday, in the organisation's time zone, with what each day holds, so a
// dispatcher sees at a glance where a job still fits. Reached from an engineer's name on the
// day board.

import { enc, h, select, fmtTime, fmtDay, localDay, validDay, shiftDay, tierBadge, statusChip, label } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';
import { HOUR } from './constants.js';
import { hoursText } from './widgets.js';

/** The Monday of the week holding `day` (a calendar date: its weekday is the same everywhere). */
export function mondayOf(day) {
  const [y, m, d] = day.split('-').map(Number);
  const weekday = new Date(Date.UTC(y, m - 1, d)).getUTCDay(); // 0 is Sunday
  return shiftDay(day, -((weekday + 6) % 7));
}

const weekHash = (engineer, from) => `#/week?${new URLSearchParams({ engineer, from })}`;

export async function viewWeek({ query }) {
  const from = mondayOf(validDay(query.get('from')) || localDay());
  const days = Array.from({ length: 7 }, (_, i) => shiftDay(from, i));
  const [users, ...boards] = await Promise.all([api('GET', '/v1/users'), ...days.map((d) => api('GET', `/v1/board?day=${d}`))]);
  const installers = users.filter((u) => u.role === 'installer');
  const engineer = query.get('engineer') || (installers[0] && installers[0].id) || '';
  const person = users.find((u) => u.id === engineer);
  const name = person ? person.name || person.id : engineer;
  const go = (who, start) => { location.hash = weekHash(who, start); };
  const columns = days.map((day, i) => {
    const row = boards[i].engineers.find((e) => e.user === engineer);
    const visits = (row ? row.jobs : []).filter((j) => j.appointment_start != null)
      .sort((a, b) => a.appointment_start - b.appointment_start);
    const booked = visits.reduce((sum, j) => sum + Math.max((j.appointment_end || j.appointment_start) - j.appointment_start, 0), 0);
    const hours = row && hoursText(row);
    return h('section', { class: ['card', 'week-day', day === localDay() && 'is-today', row && row.away && 'is-away'], 'data-day': day, 'aria-labelledby': `wd-${day}` },
      h('h2', { id: `wd-${day}` }, h('a', { href: `#/board?day=${day}`, title: t('week.open_board') }, fmtDay(day))),
      hours ? h('p', { class: 'week-hours' }, hours) : null,
      // A day away is said so above; "free" would read as free to book.
      visits.length || !(row && row.away) ? h('p', { class: 'muted week-load' }, visits.length
        ? t('week.load', { n: visits.length, hours: (Math.round((booked / HOUR) * 10) / 10).toLocaleString() })
        : t('week.free')) : null,
      h('ol', { class: 'week-visits' }, visits.map((j) => h('li', {},
        h('a', { class: ['week-visit', j.tier === 'vip' && 'is-vip'], href: `#/jobs/${enc(j.id)}`, 'data-job-id': j.id },
          h('span', { class: 'week-time' }, `${fmtTime(j.appointment_start)}–${fmtTime(j.appointment_end)}`),
          h('span', { class: 'week-customer' }, tierBadge(j.tier), ' ', j.customer_name),
          h('span', { class: 'muted' }, label(j.kind), ' ', statusChip(j.status)))))));
  });
  return h('div', { class: 'page week' },
    h('div', { class: 'toolbar' },
      h('h1', { class: 'page-title' }, t('week.title', { name })),
      h('label', { for: 'week-engineer', class: 'sr-only' }, t('week.engineer')),
      select('week-engineer', installers.map((u) => [u.id, u.name || u.id]), engineer, { onchange: (e) => go(e.target.value, from) }),
      h('button', { type: 'button', class: 'btn', 'aria-label': t('week.previous'), onclick: () => go(engineer, shiftDay(from, -7)) }, '‹'),
      h('span', { class: 'muted', id: 'week-range' }, `${fmtDay(from)} – ${fmtDay(days[6])}`),
      h('button', { type: 'button', class: 'btn', 'aria-label': t('week.next'), onclick: () => go(engineer, shiftDay(from, 7)) }, '›'),
      h('button', { type: 'button', class: 'btn ghost', onclick: () => go(engineer, localDay()) }, t('week.this_week'))),
    h('div', { class: 'week-grid', id: 'week-grid' }, columns));
}

export { weekHash };
