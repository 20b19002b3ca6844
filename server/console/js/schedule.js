// Fieldsync console: an installer's working week and time off, edited from the people page.
// Seven days, Monday first, each worked from a time to a time or not at all, in the
// organisation's time zone, and periods of whole days away with a reason. The server holds
// every booking to them (a visit on a day away, a day off or outside the hours needs a reason)
// and checks the whole schedule, naming every problem; the form marks the day or period each
// problem names.

import { state } from './state.js';
import { h, field } from './dom.js';
import { api } from './api.js';
import { showProblems } from './actions.js';
import { rerender } from './hooks.js';
import { t, language } from './i18n.js';

/** Who plans engineers' time: the roles that change jobs. */
export const mayPlan = () => state.me && ['dispatcher', 'supervisor', 'head_of_engineering'].includes(state.me.role);

/** The weekday names, Monday first, in the page's language (1 January 2024 was a Monday). */
const weekdays = () => Array.from({ length: 7 },
  (_, i) => new Date(Date.UTC(2024, 0, 1 + i, 12)).toLocaleString(language(), { weekday: 'long', timeZone: 'UTC' }));

/** The button that opens `user`'s working week. */
export function scheduleButton(user) {
  return h('button', {
    type: 'button', class: 'btn small', 'data-schedule': user.id,
    onclick: () => { state.scheduleFor = { id: user.id, name: user.name || user.id }; rerender(); },
  }, t('schedule.open'));
}

/** The form for the installer chosen with [`scheduleButton`], or null. What is typed lives in
 *  `state.scheduleFor.draft`, so a live refresh of the page rebuilds the form as it was. */
export async function scheduleEditor() {
  const who = state.scheduleFor;
  if (!who) return null;
  if (!who.draft) {
    const stored = await api('GET', `/v1/users/${encodeURIComponent(who.id)}/schedule`);
    who.stored = !!stored;
    who.draft = stored ? { week: stored.week, time_off: stored.time_off }
      : { week: Array.from({ length: 7 }, (_, i) => (i < 5 ? { start: '08:00', end: '17:00' } : null)), time_off: [] };
  }
  const { week, time_off: away } = who.draft;
  const names = weekdays();
  const dayRows = week.map((shift, i) => {
    const works = h('input', { type: 'checkbox', id: `sched-works-${i}`, checked: !!shift });
    const start = h('input', { type: 'time', id: `sched-start-${i}`, value: shift ? shift.start : '08:00', 'aria-label': t('schedule.start_of', { day: names[i] }) });
    // A day that ends at midnight ends at 24:00, which a time field shows as 00:00.
    const end = h('input', { type: 'time', id: `sched-end-${i}`, value: shift ? shift.end.replace('24:00', '00:00') : '17:00', 'aria-label': t('schedule.end_of', { day: names[i] }) });
    return h('tr', { 'data-day': i },
      h('th', { scope: 'row' }, h('label', { for: works.id }, works, ' ', names[i])), h('td', {}, start), h('td', {}, end));
  });
  const awayList = h('ul', { class: 'plain schedule-away', id: 'schedule-away' });
  const noAway = h('p', { class: 'muted', id: 'schedule-no-away' }, t('schedule.no_time_off'));
  const drawAway = () => {
    noAway.hidden = away.length > 0;
    awayList.replaceChildren(...away.map((p, i) => h('li', { 'data-index': i },
      `${p.from} – ${p.to}${p.reason ? ` · ${p.reason}` : ''} `,
      h('button', { type: 'button', class: 'btn ghost small', onclick: () => { away.splice(i, 1); who.error = null; drawAway(); } }, t('schedule.remove')))));
  };
  drawAway();
  const from = h('input', { type: 'date', id: 'sched-from' });
  const to = h('input', { type: 'date', id: 'sched-to' });
  const reason = h('input', { type: 'text', id: 'sched-reason', maxlength: 200 });
  const errEl = h('div', { id: 'schedule-error', class: 'error-box', role: 'alert', hidden: true });
  const close = () => { state.scheduleFor = null; rerender(); };
  const form = h('form', {
    id: 'schedule-form', class: 'card schedule', novalidate: true,
    onsubmit: async (e) => {
      e.preventDefault();
      const body = { week: readWeek(), time_off: away };
      form.querySelectorAll('.invalid').forEach((el) => el.classList.remove('invalid'));
      try {
        await api('PUT', `/v1/users/${encodeURIComponent(who.id)}/schedule`, body);
        close();
      } catch (err) {
        if (err.status === 401) return;
        who.error = err; // shown again when a live refresh rebuilds the form
        showSaved();
      }
    },
  },
  h('h2', { id: 'schedule-title' }, t('schedule.title', { name: who.name })),
  h('p', { class: 'muted' }, t('schedule.note')),
  errEl,
  h('table', { class: 'schedule-week', 'aria-labelledby': 'schedule-title' },
    h('thead', {}, h('tr', {}, h('th', {}, t('schedule.day')), h('th', {}, t('schedule.start')), h('th', {}, t('schedule.end')))),
    h('tbody', {}, dayRows)),
  h('h3', {}, t('schedule.time_off')),
  noAway,
  awayList,
  h('div', { class: 'schedule-add' },
    field('sched-from', t('schedule.from'), from), field('sched-to', t('schedule.to'), to),
    field('sched-reason', t('schedule.reason'), reason),
    h('button', {
      type: 'button', class: 'btn', id: 'sched-add',
      onclick: () => {
        if (!from.value) { from.focus(); return; }
        away.push({ from: from.value, to: to.value || from.value, reason: reason.value.trim() });
        who.error = null; // the problems named were of the list as it was
        from.value = ''; to.value = ''; reason.value = '';
        drawAway();
      },
    }, t('schedule.add'))),
  h('div', { class: 'actions' },
    h('button', { type: 'submit', class: 'btn primary', id: 'schedule-save' }, t('schedule.save')),
    who.stored ? h('button', {
      type: 'button', class: 'btn ghost', id: 'schedule-clear',
      onclick: async () => {
        try {
          await api('DELETE', `/v1/users/${encodeURIComponent(who.id)}/schedule`);
          close();
        } catch (err) { showProblems(errEl, err, () => null); }
      },
    }, t('schedule.clear')) : null,
    h('button', { type: 'button', class: 'btn ghost', onclick: close }, t('schedule.close'))));
  form.addEventListener('keydown', (e) => { if (e.key === 'Escape') close(); });
  // The days as the form shows them, kept in the draft as they change.
  function readWeek() {
    return week.map((_, i) => {
      if (!form.querySelector(`#sched-works-${i}`).checked) return null;
      const start = form.querySelector(`#sched-start-${i}`).value;
      const end = form.querySelector(`#sched-end-${i}`).value;
      return { start, end: end === '00:00' ? '24:00' : end };
    });
  }
  // Kept as they change; the problems named were of the form as it was.
  form.addEventListener('change', () => { who.draft.week = readWeek(); who.error = null; });
  // The server's problems, each naming the day or the period it is about: said so, and marked.
  function showSaved() {
    const err = who.error;
    if (!err) return;
    showProblems(errEl, err, () => null, false);
    const problems = (err.params && err.params.errors) || [];
    problems.forEach((p, n) => {
      const index = p.params && p.params.index;
      const at = p.field === 'week' ? form.querySelector(`tr[data-day="${index}"]`) : awayList.querySelector(`li[data-index="${index}"]`);
      if (!at) return;
      at.classList.add('invalid');
      if (!['invalid_value', 'start_after_end'].includes(p.params.problem)) return;
      const said = p.field === 'week' ? t('schedule.bad_day', { day: names[index] })
        : t('schedule.bad_period', { from: away[index].from, to: away[index].to });
      const item = problems.length === 1 ? errEl : errEl.querySelectorAll('li')[n];
      if (item) item.textContent = said;
    });
  }
  showSaved();
  return form;
}
