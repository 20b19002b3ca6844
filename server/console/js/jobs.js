// Fieldsync console: the job list (#/jobs): find any job by customer, job id, engineer, region or
// kind as the dispatcher types, narrowed by status and ordered by call, appointment, deadline or
// customer. The search is the server's (GET /v1/jobs?q=…); what was typed survives live
// re-renders and a visit to a job. A search is saved as a named view (in this browser, for this
// user) and brought back with one click.

import { state } from './state.js';
import { enc, h, label, fmtDateTime, fmtRange, tierBadge, ringBadge, statusChip, table, td } from './dom.js';
import { api } from './api.js';
import { t, errorText } from './i18n.js';
import { rerender } from './hooks.js';
import { regionName } from './lists.js';

const STATUSES = ['new', 'scheduled', 'assigned', 'en_route', 'on_site', 'completed', 'incomplete', 'cancelled', 'closed'];
const SORTS = ['call', 'appointment', 'deadline', 'customer'];
/** How long typing pauses before the list follows it. */
const TYPING_PAUSE_MS = 200;
/** The most jobs listed at once: a longer list is narrowed by typing, not by scrolling. */
const SHOWN = 200;
/** The most saved views a user keeps, and the longest name of one. */
const MAX_VIEWS = 20;
const MAX_VIEW_NAME = 40;

/** Where this user's saved views are kept in this browser. */
const viewsKey = () => `fieldsync.jobViews.${(state.me && state.me.user) || ''}`;

/** This user's saved views: [{ name, q, status, sort }], oldest first. */
function savedViews() {
  try {
    const views = JSON.parse(localStorage.getItem(viewsKey()) || '[]');
    return Array.isArray(views) ? views.filter((v) => v && typeof v.name === 'string') : [];
  } catch (e) {
    return [];
  }
}

function keepViews(views) {
  try { localStorage.setItem(viewsKey(), JSON.stringify(views)); } catch (e) { /* private mode: this page only */ }
}

/** A search's status filter in words. */
const statusText = (status) => (status === 'open' ? t('jobs.status_open') : status ? label(status) : t('jobs.status_all'));

/** Shows the page again from `search`: the controls say what it says, not what was typed. */
function showSearch() {
  document.querySelectorAll('#jobs-q, #jobs-status, #jobs-sort, #jobs-view-name').forEach((el) => { delete el.dataset.dirty; });
  rerender();
}

/** The saved views as buttons that bring a search back, each with one to forget it, and a
 *  field to save the current search under a name (a name in use is replaced). */
function viewsBar(search) {
  const views = savedViews();
  const name = h('input', {
    id: 'jobs-view-name', type: 'text', maxlength: MAX_VIEW_NAME, autocomplete: 'off',
    placeholder: t('jobs.view_name'), 'aria-label': t('jobs.view_name'),
  });
  const save = () => {
    const named = name.value.trim();
    if (!named) { name.focus(); return; }
    // Read again: another tab may have saved since this bar was built.
    const kept = savedViews().filter((v) => v.name !== named);
    kept.push({ name: named, q: search.q, status: search.status, sort: search.sort });
    keepViews(kept.slice(-MAX_VIEWS));
    showSearch();
  };
  name.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); save(); } });
  return h('div', { class: 'jobs-views', role: 'group', 'aria-label': t('jobs.views') },
    views.map((v) => h('span', { class: 'view-chip', 'data-view': v.name },
      h('button', {
        type: 'button', class: 'btn small', title: [v.q, statusText(v.status), t(`jobs.sort_${v.sort || 'call'}`)].filter(Boolean).join(' · '),
        onclick: () => { Object.assign(search, { q: v.q || '', status: v.status ?? 'open', sort: v.sort || 'call' }); showSearch(); },
      }, v.name),
      h('button', {
        type: 'button', class: 'btn ghost small', 'aria-label': t('jobs.view_forget', { name: v.name }),
        onclick: () => { keepViews(savedViews().filter((x) => x.name !== v.name)); showSearch(); },
      }, '×'))),
    name,
    h('button', { type: 'button', class: 'btn small', id: 'jobs-view-save', onclick: save }, t('jobs.view_save')));
}

export async function viewJobs() {
  const search = state.jobSearch || (state.jobSearch = { q: '', status: 'open', sort: 'call' });
  const results = h('div', { id: 'jobs-results', 'aria-live': 'polite' });
  const field = h('input', {
    id: 'jobs-q', type: 'search', value: search.q, autocomplete: 'off',
    placeholder: t('jobs.search_placeholder'), 'aria-label': t('jobs.search_label'),
  });
  const status = h('select', { id: 'jobs-status', 'aria-label': t('jobs.status_label') },
    h('option', { value: 'open' }, t('jobs.status_open')), h('option', { value: '' }, t('jobs.status_all')),
    STATUSES.map((s) => h('option', { value: s }, label(s))));
  status.value = search.status;
  const sort = h('select', { id: 'jobs-sort', 'aria-label': t('jobs.sort_label') },
    SORTS.map((s) => h('option', { value: s }, t(`jobs.sort_${s}`))));
  sort.value = search.sort;
  // Engineers by name, not login (best effort: the ids stay when the list is not readable).
  const names = new Map();
  try {
    for (const u of await api('GET', '/v1/users')) names.set(u.id, u.name || u.id);
  } catch (err) { /* ids, then */ }
  let pause;
  let asked = 0;
  const refresh = async () => {
    const seq = ++asked;
    const params = new URLSearchParams({ q: search.q, status: search.status, sort: search.sort, limit: String(SHOWN) });
    try {
      const jobs = await api('GET', `/v1/jobs?${params}`);
      if (seq === asked) results.replaceChildren(...resultList(jobs, names));
    } catch (err) {
      if (seq === asked) results.replaceChildren(h('p', { class: 'error-box', role: 'alert' }, errorText(err)));
    }
  };
  field.addEventListener('input', () => {
    search.q = field.value;
    clearTimeout(pause);
    pause = setTimeout(refresh, TYPING_PAUSE_MS);
  });
  // Typed while a live refresh rebuilt the page: search for what the field now says.
  field.addEventListener('restored', () => { search.q = field.value; refresh(); });
  // Enter opens the first job found.
  field.addEventListener('keydown', (e) => {
    const first = results.querySelector('a.job-link');
    if (e.key === 'Enter' && first) { e.preventDefault(); location.hash = first.getAttribute('href'); }
  });
  status.addEventListener('change', () => { search.status = status.value; refresh(); });
  sort.addEventListener('change', () => { search.sort = sort.value; refresh(); });
  await refresh();
  setTimeout(() => { if (!document.activeElement || document.activeElement === document.body) field.focus(); });
  return h('div', { class: 'page jobs' },
    h('h1', { class: 'page-title' }, t('jobs.title')),
    h('div', { class: 'jobs-filters' }, field, status, sort),
    viewsBar(search),
    results);
}

function resultList(jobs, names) {
  if (!jobs.length) return [h('p', { class: 'empty' }, t('jobs.none'))];
  return [
    h('p', { id: 'jobs-count', class: 'muted' }, jobs.length >= SHOWN
      ? t('jobs.count_more', { n: jobs.length }) : t('jobs.count', { n: jobs.length })),
    table([t('jobs.col_customer'), t('jobs.col_status'), t('jobs.col_engineer'), t('jobs.col_appointment'),
      t('jobs.col_region'), t('jobs.col_call')],
    jobs.map((j) => h('tr', { 'data-job-id': j.id },
      td(h('a', { class: 'job-link', href: `#/jobs/${enc(j.id)}` }, tierBadge(j.tier), ' ', j.customer_name, ' ', ringBadge(j.ring))),
      td(statusChip(j.status)), td(j.assignee && (names.get(j.assignee) || j.assignee)), td(j.appointment_start != null ? fmtRange(j.appointment_start, j.appointment_end) : null),
      td(regionName(j.region)), td(fmtDateTime(j.call_received_at)))),
    { id: 'jobs-table' }),
  ];
}
