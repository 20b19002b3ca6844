// Fieldsync console: the queues view (#/queues): unassigned, unscheduled, overdue, escalated
// and flagged jobs, and completed jobs waiting for their return-visit call. Each job is one card,
// in the queue of what it needs next (its other reasons on the card); the queues filter by
// region, engineer, tier and kind; planners pick several cards and assign them at once.

import { state } from './state.js';
import { $, enc, h, field, label, select, fmtWhen, dueSpan, tierBadge, ringBadge, priorityBadge } from './dom.js';
import { api } from './api.js';
import { errorBox, showError, clearError } from './actions.js';
import { rerender } from './hooks.js';
import { clockLabel, errorText, t } from './i18n.js';
import { flagText } from './widgets.js';
import { categoryName, regionName } from './lists.js';

// Each queue's title is queues.<key> in the catalog; shown in this order.
const QUEUES = ['unassigned', 'unscheduled', 'overdue', 'escalated', 'flagged', 'return_visits'];
// A job in several queues is carded in the first of these: the queue of what it needs next (an
// installer, an appointment, the ring's attention, a follow-up, a call back); Overdue keeps the
// late jobs that need none of those. Its card says every reason, lateness included.
const NEXT_STEP = ['unassigned', 'unscheduled', 'escalated', 'flagged', 'return_visits', 'overdue'];
const NOBODY = '-';

const filters = () => {
  state.queueFilter = state.queueFilter || { region: '', engineer: '', tier: '', kind: '' };
  return state.queueFilter;
};
const picked = () => {
  state.queuePicked = state.queuePicked || new Set();
  return state.queuePicked;
};

function matches(job, f) {
  return (!f.region || job.region === f.region)
    && (!f.engineer || (f.engineer === NOBODY ? !job.assignee : job.assignee === f.engineer))
    && (!f.tier || job.tier === f.tier)
    && (!f.kind || job.kind === f.kind);
}

export async function viewQueues() {
  const [q, users] = await Promise.all([api('GET', '/v1/queues'), api('GET', '/v1/users')]);
  const names = Object.fromEntries(users.map((u) => [u.id, u.name || u.id]));
  const installers = users.filter((u) => u.role === 'installer');
  // One card per job: the queue of its next step, with every reason it is queued for.
  const cards = new Map();
  for (const key of NEXT_STEP) {
    for (const item of q[key] || []) {
      const card = cards.get(item.job.id);
      if (card) card.also.push(item);
      else cards.set(item.job.id, { key, item, also: [] });
    }
  }
  const f = filters();
  const shown = [...cards.values()].filter((c) => matches(c.item.job, f));
  const chosen = picked();
  for (const id of [...chosen]) if (!shown.some((c) => c.item.job.id === id)) chosen.delete(id);
  const all = [...cards.values()].map((c) => c.item.job);
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, t('queues.title'), ' ', h('span', { class: 'count' }, String(shown.length))),
    filterBar(all, installers, names),
    bulkBar(installers),
    h('div', { class: 'queue-grid' }, QUEUES.map((key) => queueSection(key,
      // Within a queue, the server's order (VIP first, then priority, then the deadline).
      (q[key] || []).map((item) => shown.find((c) => c.key === key && c.item === item)).filter(Boolean), names))));
}

function filterBar(jobs, installers, names) {
  const f = filters();
  const distinct = (values) => [...new Set(values.filter(Boolean))].sort((a, b) => a.localeCompare(b));
  // The filters live in the state, not as typed-in values a refresh would put back.
  const choose = (key) => (e) => { f[key] = e.target.value; delete e.target.dataset.dirty; rerender(); };
  const any = ['', t('queues.filter_any')];
  return h('form', { class: 'card filters', id: 'queue-filters', onsubmit: (e) => e.preventDefault() },
    field('qf-region', t('queues.filter_region'),
      select('qf-region', [any, ...distinct(jobs.map((j) => j.region)).map((r) => [r, regionName(r)])], f.region, { onchange: choose('region') })),
    field('qf-engineer', t('queues.filter_engineer'),
      select('qf-engineer', [any, [NOBODY, t('queues.filter_nobody')],
        ...installers.map((u) => [u.id, names[u.id]])], f.engineer, { onchange: choose('engineer') })),
    field('qf-tier', t('queues.filter_tier'),
      select('qf-tier', [any, ['vip', label('vip')], ['standard', label('standard')]], f.tier, { onchange: choose('tier') })),
    field('qf-kind', t('queues.filter_kind'),
      select('qf-kind', [any, ...distinct(jobs.map((j) => j.kind)).map((k) => [k, label(k)])], f.kind, { onchange: choose('kind') })),
    Object.values(f).some(Boolean)
      ? h('button', { type: 'button', class: 'btn', id: 'qf-clear',
        onclick: () => {
          Object.keys(f).forEach((k) => { f[k] = ''; });
          document.querySelectorAll('#queue-filters [data-dirty]').forEach((el) => { delete el.dataset.dirty; });
          rerender();
        } }, t('queues.filter_clear'))
      : null);
}

/** Assigns every picked job to the chosen engineer, one request each; says which failed. */
async function assignPicked(engineer) {
  const chosen = [...picked()];
  const failed = [];
  for (const id of chosen) {
    try {
      await api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: engineer });
      picked().delete(id);
    } catch (err) {
      if (err && err.status === 401) return;
      failed.push(err);
    }
  }
  if (failed.length) {
    showError('bulk-error', `${t('queues.bulk_failed', { n: failed.length, total: chosen.length })} ${errorText(failed[0])}`);
  } else {
    clearError('bulk-error');
  }
  rerender();
}

function bulkBar(installers) {
  const n = picked().size;
  const engineer = select('bulk-engineer', installers.map((u) => [u.id, u.name || u.id]), installers[0] && installers[0].id);
  return h('div', { class: 'bulk-bar', id: 'bulk-bar' },
    errorBox('bulk-error'),
    n ? h('form', {
      class: 'card bulk-form', id: 'bulk-form',
      onsubmit: (e) => { e.preventDefault(); assignPicked($('bulk-engineer').value); },
    },
    h('strong', {}, t('queues.bulk_selected', { n })), ' ',
    h('label', { for: 'bulk-engineer' }, t('queues.bulk_assign_to')), engineer,
    h('button', { type: 'submit', class: 'btn primary', id: 'bulk-assign' }, t('queues.bulk_assign')),
    h('button', { type: 'button', class: 'btn', onclick: () => { picked().clear(); rerender(); } }, t('queues.bulk_clear')))
      : null);
}

function queueSection(key, cards, names) {
  const title = t(`queues.${key}`);
  return h('section', { id: `queue-${key}`, class: 'card queue', 'aria-labelledby': `queue-${key}-h` },
    h('h2', { id: `queue-${key}-h` }, title, ' ', h('span', { class: 'count' }, String(cards.length))),
    cards.length ? h('div', { class: 'queue-list' }, cards.map((c) => queueCard(c, names)))
      : h('p', { class: 'empty' }, t('queues.empty')));
}

function queueCard({ item, also }, names) {
  const j = item.job;
  const pick = h('input', {
    type: 'checkbox', class: 'bulk-pick', id: `pick-${j.id}`, 'aria-label': t('queues.bulk_pick', { customer: j.customer_name }),
    checked: picked().has(j.id) || null,
    onchange: (e) => { if (e.target.checked) picked().add(j.id); else picked().delete(j.id); rerender(); },
  });
  const link = h('a', { class: ['queue-item', j.tier === 'vip' && 'is-vip'], href: `#/jobs/${enc(j.id)}`, 'data-job-id': j.id },
    h('div', { class: 'qi-line' }, tierBadge(j.tier), h('strong', { class: 'qi-customer' }, j.customer_name),
      priorityBadge(j.priority), ringBadge(j.ring)),
    h('div', { class: 'qi-line muted' }, label(j.kind), ' · ', [categoryName(j.category), regionName(j.region)].filter(Boolean).join(' / ') || '—',
      j.assignee ? ` · ${names[j.assignee] || j.assignee}` : ''),
    item.due != null ? h('div', { class: 'qi-due' }, h('span', { class: 'clock-name' }, clockLabel(item.clock || 'due')), ' ',
      dueSpan(item.due), h('span', { class: 'muted' }, ` · ${fmtWhen(item.due)}`)) : null,
    h('div', { class: 'qi-note' }, [item, ...also].map(queueNote).join(t('queues.note_separator'))));
  return h('div', { class: 'queue-row' }, pick, link);
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
