// Fieldsync console: the day board (#/board?day=YYYY-MM-DD): engineers' appointments on a
// timeline, unplanned jobs, drag and drop, and the assign panel with ranked suggestions.

import { MIN, HOUR, DEFAULT_VISIT } from './constants.js';
import { state } from './state.js';
import {
  enc, append, h, field, dl, pad, label, fmtTime, fmtRange, localDay, validDay, dayAt, shiftDay,
  toTimeInput, dueSpan, tierBadge, ringBadge, statusChip, timeZone,
} from './dom.js';
import { api } from './api.js';
import { t, errorText } from './i18n.js';
import { errorBox, act } from './actions.js';
import { fillEndFromStart, hoursText, suggestionList } from './widgets.js';
import { weekHash } from './week.js';
import { regionName } from './lists.js';

const BOARD_FROM = 6; // the day board shows 06:00–22:00
const BOARD_TO = 22;
const BOARD_SPAN = (BOARD_TO - BOARD_FROM) * HOUR;

const SNAP = 15 * MIN;
const LANE = 40; // px per lane of overlapping jobs in a board row

export async function viewBoard({ query }) {
  const day = validDay(query.get('day')) || localDay();
  if (state.board.day !== day) { state.board.day = day; state.board.selected = null; }
  const data = await api('GET', `/v1/board?day=${day}`);
  const jobs = new Map();
  for (const e of data.engineers) for (const j of e.jobs) jobs.set(j.id, j);
  for (const j of data.unplanned) jobs.set(j.id, j);
  const ctx = {
    day, jobs, t0: dayAt(day, BOARD_FROM), t1: dayAt(day, BOARD_TO),
    panel: h('aside', { id: 'assign-panel', class: 'card panel', 'aria-label': t('board.assign_panel'), hidden: true }),
  };
  const goDay = (d) => { location.hash = `#/board?day=${d}`; };
  const unplanned = h('div', { id: 'board-unplanned', class: 'unplanned-list' }, data.unplanned.map((j) => boardJob(ctx, j)));
  dropTarget(unplanned, (id) => {
    // Dropping back on the list takes the job off its engineer.
    const job = ctx.jobs.get(id);
    if (job && job.assignee) act('board-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: null }));
  });
  ctx.layout = h('div', { class: 'board-layout' },
    h('section', { class: 'card unplanned', 'aria-labelledby': 'unplanned-h' },
      h('h2', { id: 'unplanned-h' }, t('board.unplanned'), ' ', h('span', { class: 'count' }, String(data.unplanned.length))),
      data.unplanned.length ? null : h('p', { class: 'empty' }, t('board.all_planned')), unplanned),
    boardTimeline(ctx, data.engineers),
    ctx.panel);
  // Escape anywhere on the board closes the panel.
  ctx.layout.addEventListener('keydown', (e) => { if (e.key === 'Escape' && state.board.selected) closePanel(ctx); });
  if (state.board.selected) await fillPanel(ctx, state.board.selected);
  return h('div', { class: 'page board' },
    h('div', { class: 'toolbar' },
      h('h1', { class: 'page-title' }, t('board.title')),
      h('button', { type: 'button', class: 'btn', onclick: () => goDay(shiftDay(day, -1)), 'aria-label': t('board.previous_day') }, '‹'),
      h('label', { for: 'board-day', class: 'sr-only' }, t('board.day')),
      h('input', { id: 'board-day', type: 'date', value: day, onchange: (e) => validDay(e.target.value) && goDay(e.target.value) }),
      h('button', { type: 'button', class: 'btn', onclick: () => goDay(shiftDay(day, 1)), 'aria-label': t('board.next_day') }, '›'),
      h('button', { type: 'button', class: 'btn ghost', onclick: () => goDay(localDay()) }, t('board.today')),
      h('span', { class: 'muted', title: t('board.time_zone_title') }, timeZone()),
      h('span', { class: 'muted' }, [
        t('board.count_engineers', { n: data.engineers.length }),
        t('board.count_planned', { n: jobs.size - data.unplanned.length }),
        t('board.count_unplanned', { n: data.unplanned.length }),
      ].join(' · '))),
    errorBox('board-error'),
    ctx.layout);
}

function boardTimeline(ctx, engineers) {
  const scale = h('div', { class: 'board-scale' });
  for (let hr = BOARD_FROM; hr <= BOARD_TO; hr += 2) {
    const tick = h('span', {}, `${pad(hr)}:00`);
    tick.style.left = `${((hr - BOARD_FROM) / (BOARD_TO - BOARD_FROM)) * 100}%`;
    scale.append(tick);
  }
  return h('section', { class: 'card timeline', 'aria-label': t('board.timeline') },
    h('div', { class: 'board-head' }, h('div', { class: 'board-label' }, t('board.engineer')), scale),
    engineers.length ? engineers.map((e) => engineerRow(ctx, e)) : h('p', { class: 'empty' }, t('board.no_engineers')));
}

function engineerRow(ctx, eng) {
  const track = h('div', { class: 'board-track' });
  const lanes = []; // end time of the last block in each lane, so overlapping visits stack
  const sorted = [...eng.jobs].sort((a, b) => (a.appointment_start || 0) - (b.appointment_start || 0));
  for (const j of sorted) {
    const start = j.appointment_start ?? ctx.t0;
    const end = j.appointment_end ?? start + DEFAULT_VISIT;
    let lane = lanes.findIndex((last) => last <= start);
    if (lane < 0) lane = lanes.push(end) - 1; else lanes[lane] = end;
    const left = Math.min(Math.max((start - ctx.t0) / BOARD_SPAN, 0), 0.98);
    const right = Math.min(Math.max((end - ctx.t0) / BOARD_SPAN, left + 0.02), 1);
    const el = boardJob(ctx, j);
    el.style.left = `${left * 100}%`;
    el.style.width = `${(right - left) * 100}%`;
    el.style.top = `${lane * LANE + 3}px`;
    track.append(el);
  }
  track.style.height = `${Math.max(lanes.length, 1) * LANE + 6}px`;
  const now = Date.now();
  if (now > ctx.t0 && now < ctx.t1) {
    const line = h('div', { class: 'now-line', title: t('board.now', { time: fmtTime(now) }) });
    line.style.left = `${((now - ctx.t0) / BOARD_SPAN) * 100}%`;
    track.append(line);
  }
  const hours = hoursText(eng);
  const row = h('div', { class: ['board-row', eng.away && 'is-away'], 'data-engineer': eng.user },
    h('div', { class: 'board-label' },
      h('a', { href: weekHash(eng.user, ctx.day), title: t('week.title', { name: eng.name || eng.user }), class: 'board-engineer' },
        h('strong', {}, eng.name || eng.user)),
      h('span', { class: 'muted' }, ` ${regionName(eng.region) || ''} · ${eng.jobs.length}`),
      hours ? h('div', { class: 'board-hours' }, hours) : null,
      h('div', { class: 'skills muted' }, (eng.skills || []).join(t('common.list_separator')))),
    track);
  dropTarget(row, (id, e) => {
    const job = ctx.jobs.get(id);
    if (!job) return; // only jobs on this board (not text dragged in from elsewhere)
    const rect = track.getBoundingClientRect();
    const length = job.appointment_start != null && job.appointment_end > job.appointment_start
      ? job.appointment_end - job.appointment_start : DEFAULT_VISIT;
    let start;
    if (e.clientX < rect.left) {
      // Dropped on the name: keep the time if it is on this day, else a morning slot.
      const keep = job.appointment_start >= ctx.t0 && job.appointment_start < ctx.t1;
      start = keep ? job.appointment_start : ctx.t0 + 2 * HOUR;
    } else {
      const frac = Math.min(Math.max((e.clientX - rect.left) / rect.width, 0), 1);
      start = Math.min(ctx.t0 + Math.round((frac * BOARD_SPAN) / SNAP) * SNAP, ctx.t1 - SNAP);
    }
    moveJob(ctx, id, eng.user, start, start + length);
  });
  return row;
}

function boardJob(ctx, j) {
  const when = j.appointment_start != null ? `${fmtTime(j.appointment_start)}–${fmtTime(j.appointment_end)}` : t('board.no_appointment');
  const el = h('div', {
    class: ['board-job', `st-${j.status}`, j.tier === 'vip' && 'is-vip', `prio-${j.priority}`, state.board.selected === j.id && 'selected'],
    'data-job-id': j.id, draggable: 'true', tabindex: '0', role: 'button',
    title: `${j.customer_name} · ${label(j.kind)} · ${regionName(j.region)} · ${label(j.status)} · ${when}${j.assignee ? ` · ${j.assignee}` : ''}`,
  },
  h('div', { class: 'bj-name' }, j.tier === 'vip' ? h('span', { class: 'badge vip' }, t('board.vip')) : null, ' ', j.customer_name),
  h('div', { class: 'bj-meta' }, [j.appointment_start != null ? when : j.assignee || t('board.unassigned_short'), label(j.kind), regionName(j.region)].join(' · ')));
  el.addEventListener('click', () => {
    // Not the click that ends a drag by touch.
    if (Date.now() - Number(el.dataset.dragged || 0) < 600) return;
    openPanel(ctx, j.id);
  });
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openPanel(ctx, j.id, true); }
  });
  el.addEventListener('dragstart', (e) => {
    e.dataTransfer.setData('text/plain', j.id);
    e.dataTransfer.effectAllowed = 'move';
    state.drag = j;
    el.classList.add('dragging');
  });
  el.addEventListener('dragend', () => { state.drag = null; el.classList.remove('dragging'); });
  touchDrag(el, j);
  return el;
}

/** Where each drop target's handler is, for drags by touch (which have no drop events). */
const dropHandlers = new WeakMap();

/** Moves a job by touch (a finger or a pen), as the mouse drags it: a card moved sideways
 *  follows the finger and is dropped where it is let go; moved up or down first, the page
 *  scrolls (`touch-action: pan-y`), and a tap still opens the panel. A touch's events stay with
 *  the card it began on (implicit pointer capture); while a card is held the live refresh
 *  waits, as it does for the mouse (`state.drag`), so the card is not rebuilt under it. */
function touchDrag(el, j) {
  let drag = null;
  const targetAt = (x, y) => {
    for (let node = document.elementFromPoint(x, y); node; node = node.parentElement) {
      if (dropHandlers.has(node)) return node;
    }
    return null;
  };
  el.addEventListener('pointerdown', (e) => {
    if (e.pointerType === 'mouse' || !e.isPrimary) return;
    drag = { x: e.clientX, y: e.clientY, ghost: null, over: null };
  });
  el.addEventListener('pointermove', (e) => {
    if (!drag) return;
    if (!drag.ghost) {
      const [dx, dy] = [Math.abs(e.clientX - drag.x), Math.abs(e.clientY - drag.y)];
      if (Math.max(dx, dy) < 8) return;
      if (dy > dx) { drag = null; return; } // a scroll: the browser has it
      const ghost = el.cloneNode(true);
      ghost.classList.add('touch-ghost');
      for (const name of ['id', 'style', 'data-job-id', 'role', 'tabindex', 'draggable', 'title']) ghost.removeAttribute(name);
      ghost.setAttribute('aria-hidden', 'true');
      document.body.append(ghost);
      drag.ghost = ghost;
      state.drag = j;
      el.classList.add('dragging');
    }
    drag.ghost.style.left = `${e.clientX - 20}px`;
    drag.ghost.style.top = `${e.clientY - 20}px`;
    const over = targetAt(e.clientX, e.clientY);
    if (over !== drag.over) {
      if (drag.over) drag.over.classList.remove('drop-over');
      if (over) over.classList.add('drop-over');
      drag.over = over;
    }
  });
  const end = (e, dropped) => {
    if (!drag) return;
    const { ghost, over } = drag;
    drag = null;
    if (!ghost) return; // a tap: the click that follows opens the panel
    state.drag = null;
    ghost.remove();
    el.classList.remove('dragging');
    if (over) over.classList.remove('drop-over');
    // The click a browser may still send for the touch must not open the panel.
    el.dataset.dragged = String(Date.now());
    if (dropped && over) dropHandlers.get(over)(j.id, e);
  };
  el.addEventListener('pointerup', (e) => end(e, true));
  el.addEventListener('pointercancel', (e) => end(e, false));
}

function dropTarget(el, onDrop) {
  dropHandlers.set(el, onDrop);
  el.addEventListener('dragover', (e) => {
    e.preventDefault();
    e.dataTransfer.dropEffect = 'move';
    el.classList.add('drop-over');
  });
  el.addEventListener('dragleave', (e) => { if (!el.contains(e.relatedTarget)) el.classList.remove('drop-over'); });
  el.addEventListener('drop', (e) => {
    e.preventDefault();
    e.stopPropagation();
    el.classList.remove('drop-over');
    const id = e.dataTransfer.getData('text/plain') || (state.drag && state.drag.id);
    state.drag = null;
    if (id) onDrop(id, e);
  });
}

function moveJob(ctx, id, user, start, end) {
  const job = ctx.jobs.get(id);
  state.board.selected = id;
  // The engineer and the time in one change, checked together against the engineer's day.
  act('board-error', (reason) => (job && job.assignee === user
    ? api('POST', `/v1/jobs/${enc(id)}/appointment`, { start, end, override_reason: reason })
    : api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: user, appointment: { start, end }, override_reason: reason })));
}

/** Opens the assign panel for job `id`; from the keyboard (`focus`), focus moves into it. */
async function openPanel(ctx, id, focus = false) {
  state.board.selected = id;
  ctx.layout.querySelectorAll('.board-job').forEach((el) => el.classList.toggle('selected', el.dataset.jobId === id));
  await fillPanel(ctx, id);
  if (focus && state.board.selected === id) {
    const first = ctx.panel.querySelector('.assign-btn:not([disabled])') || ctx.panel.querySelector('button.close');
    if (first) first.focus();
  }
}

/** Closes the panel; focus goes back to the job it was open for. */
function closePanel(ctx) {
  const id = state.board.selected;
  state.board.selected = null;
  ctx.panel.hidden = true;
  ctx.layout.classList.remove('with-panel');
  ctx.layout.querySelectorAll('.board-job.selected').forEach((el) => el.classList.remove('selected'));
  const card = id && [...ctx.layout.querySelectorAll('.board-job')].find((el) => el.dataset.jobId === id);
  if (card) card.focus();
}

async function fillPanel(ctx, id) {
  const { panel, day } = ctx;
  panel.hidden = false;
  ctx.layout.classList.add('with-panel');
  if (!panel.firstChild) panel.append(h('p', { class: 'loading' }, t('common.loading')));
  let job = ctx.jobs.get(id);
  let suggestions;
  try {
    if (!job) job = (await api('GET', `/v1/jobs/${enc(id)}`)).summary;
    suggestions = await api('GET', `/v1/jobs/${enc(id)}/suggestions?day=${day}`);
  } catch (err) {
    if (state.board.selected === id) panel.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, errorText(err)));
    return;
  }
  if (state.board.selected !== id) return;
  const onDay = job.appointment_start >= dayAt(day) && job.appointment_start < dayAt(shiftDay(day, 1));
  const start = h('input', { id: 'appt-start', type: 'time', step: 900, value: onDay ? toTimeInput(job.appointment_start) : '' });
  const end = h('input', { id: 'appt-end', type: 'time', step: 900, value: onDay ? toTimeInput(job.appointment_end) : '' });
  fillEndFromStart(start, end, (v) => toTimeInput(dayAt(day, ...v.split(':').map(Number)) + DEFAULT_VISIT));
  const save = () => act('board-error', async (reason) => {
    if (!start.value || !end.value) throw new Error(t('board.pick_times'));
    const at = (v) => dayAt(day, ...v.split(':').map(Number));
    await api('POST', `/v1/jobs/${enc(id)}/appointment`, { start: at(start.value), end: at(end.value), override_reason: reason });
    delete start.dataset.dirty;
    delete end.dataset.dirty;
  });
  panel.replaceChildren();
  append(panel, [
    h('div', { class: 'panel-head' },
      h('h2', {}, tierBadge(job.tier), ' ', job.customer_name),
      h('button', { type: 'button', class: 'btn ghost close', 'aria-label': t('board.close_panel'), onclick: () => closePanel(ctx) }, '×')),
    dl([
      [t('board.kind'), label(job.kind)], [t('board.status'), statusChip(job.status)], [t('board.priority'), label(job.priority)],
      [t('board.region'), regionName(job.region)], [t('board.ring'), ringBadge(job.ring)], [t('board.engineer'), job.assignee || t('common.unassigned')],
      [t('board.appointment'), fmtRange(job.appointment_start, job.appointment_end)],
      job.resolve_by != null && [t('board.resolve_by'), dueSpan(job.resolve_by)],
    ]),
    h('p', {}, h('a', { href: `#/jobs/${enc(id)}` }, t('board.open_job'))),
    h('h3', {}, t('board.appointment_on', { day })),
    h('div', { class: 'appt-editor' }, field('appt-start', t('board.start'), start), field('appt-end', t('board.end'), end),
      h('button', { id: 'appt-save', type: 'button', class: 'btn primary', onclick: save }, t('common.save'))),
    h('h3', {}, t('board.suggested_for', { day })),
    suggestionList(suggestions, job.assignee, (user) => act('board-error', (reason) => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: user, override_reason: reason }))),
    job.assignee ? h('button', { type: 'button', class: 'btn ghost', onclick: () => act('board-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: null })) }, t('common.unassign')) : null]);
}
