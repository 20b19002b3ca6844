'use strict';
/*
 * Fieldsync console: queues, intake, day board, job detail, KPIs, reminders and
 * product manuals over the office JSON API (/v1/...). Plain DOM, hash routing,
 * live updates from the server's event stream.
 */

// ---------------------------------------------------------------- constants

const KINDS = ['installation', 'repair', 'maintenance', 'inspection', 'complaint'];
const PRIORITIES = ['low', 'normal', 'high', 'urgent'];
const CLOCKS = ['respond', 'dispatch', 'resolve', 'feedback'];
const QUEUES = [
  ['unassigned', 'Unassigned'], ['unscheduled', 'Unscheduled'], ['overdue', 'Overdue'],
  ['escalated', 'Escalated'], ['flagged', 'Flagged'],
];
const MIN = 60e3;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const BOARD_FROM = 6; // the day board shows 06:00–22:00
const BOARD_TO = 22;
const BOARD_SPAN = (BOARD_TO - BOARD_FROM) * HOUR;
const DEFAULT_VISIT = 2 * HOUR; // length given to a dropped job that has no appointment yet
const SNAP = 15 * MIN;
const LANE = 40; // px per lane of overlapping jobs in a board row
const DURATION_STEPS = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR,
  3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];
const MIB = 1024 * 1024;
const UPLOAD_PART = 4 * MIB; // blobs go up in parts of this size, each resumable
const MAX_BLOB = 64 * MIB;
const UPLOAD_RETRIES = 5; // failed parts in a row before an upload gives up

// Field paths named by the server's validation errors → ids of the intake inputs.
const INTAKE_FIELDS = {
  'customer.name': 'customer_name', 'customer.phone': 'customer_phone',
  'customer.email': 'customer_email', 'customer.tier': 'tier', 'site.address': 'site_address',
  'site.region': 'region', 'product.model': 'product_model', 'product.serial': 'product_serial',
  'problem.category': 'category', 'problem.description': 'description', kind: 'kind',
  call_received_at: 'call_received_at', priority: 'priority',
};

const state = {
  csrf: null,
  me: null,
  events: null,
  eventsReady: false,
  lastPath: null, // first segment of the last routed path
  seq: 0, // bumped by every render; an async render that finds it changed drops its result
  refreshTimer: 0,
  errors: {}, // action errors that survive live re-renders: element id -> {hash, text}
  board: { day: null, selected: null },
  drag: null,
  kpi: { period: 'month', from: '', to: '', region: '', category: '', kind: '', engineer: '' },
  // The upload form lives as long as the session, so typed text, chosen files and running
  // uploads survive moving between manuals and other pages.
  manuals: { form: null, latest: new Map(), selected: null, onList: null },
  reportLinks: {}, // job id -> the customer link made in this session
};

// ---------------------------------------------------------------- DOM helpers

const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Builds an element. attrs: on* functions become listeners, `class` may be an array,
 *  `value` is set as a property (after the children, so a <select> finds its option). */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  append(el, children);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'class') el.className = Array.isArray(v) ? v.filter(Boolean).join(' ') : v;
    else if (k === 'value') el.value = v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';
function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

/** A labelled form field. */
function field(id, text, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, text), control,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

function select(id, options, value, attrs = {}) {
  return h('select', { id, name: id, value, ...attrs },
    options.map((o) => (Array.isArray(o) ? h('option', { value: o[0] }, o[1]) : h('option', { value: o }, label(o)))));
}

function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) =>
    [h('dt', {}, k), h('dd', {}, v === null || v === undefined || v === '' ? '—' : v)]));
}

function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

// ---------------------------------------------------------------- formatting

const pad = (n) => String(n).padStart(2, '0');
const label = (v) => (v ? String(v).charAt(0).toUpperCase() + String(v).slice(1).replace(/_/g, ' ') : '—');
const one = (x) => String(Math.round(x * 10) / 10);
const pct = (rate) => (rate === null || rate === undefined ? '—' : `${Math.round(rate * 100)}%`);
const pctTick = (t) => `${+(t * 100).toFixed(1)}%`;

function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const a = Math.abs(ms);
  if (a < MIN) return `${Math.round(a / 1000)} s`;
  if (a < HOUR) return `${Math.round(a / MIN)} min`;
  if (a < DAY) return `${one(a / HOUR)} h`;
  return `${one(a / DAY)} d`;
}

const fmtTime = (ms) => (ms == null ? '—' : new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
const fmtDate = (ms) => (ms == null ? '—' : new Date(ms).toLocaleDateString([], { day: 'numeric', month: 'short', year: 'numeric' }));

function fmtDateTime(ms) {
  if (ms == null) return '—';
  const d = new Date(ms);
  const opts = { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  if (d.getFullYear() !== new Date().getFullYear()) opts.year = 'numeric';
  return d.toLocaleString([], opts);
}

/** Time only when it is today, else day and time. */
const fmtWhen = (ms) => (localDay(new Date(ms)) === localDay() ? fmtTime(ms) : fmtDateTime(ms));

function fmtRange(start, end) {
  if (start == null) return 'None';
  if (end == null) return fmtDateTime(start);
  const sameDay = localDay(new Date(start)) === localDay(new Date(end));
  return `${fmtDateTime(start)} – ${sameDay ? fmtTime(end) : fmtDateTime(end)} (${fmtDuration(end - start)})`;
}

/** Product dates may come as epoch ms or as text. */
const fmtAny = (v) => (typeof v === 'number' ? fmtDate(v) : v || '—');

/** Sizes in KB below a megabyte, else MB with one decimal. */
function fmtSize(bytes) {
  if (bytes == null || !Number.isFinite(bytes)) return '—';
  if (bytes < MIB) return `${bytes > 0 ? Math.max(1, Math.round(bytes / 1024)) : 0} KB`;
  return `${one(bytes / MIB)} MB`;
}

// Calendar days are handled as YYYY-MM-DD strings in the browser's local time.
// The KPI range is in UTC days: show the day itself, not the local time of its midnight.
function fmtUtcDay(ms) {
  return new Date(ms).toLocaleDateString([], { timeZone: 'UTC', day: 'numeric', month: 'short', year: 'numeric' });
}
function localDay(d = new Date()) {
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}
const validDay = (v) => (v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : null);
function dayAt(day, hours = 0, minutes = 0) {
  const [y, m, d] = day.split('-').map(Number);
  return new Date(y, m - 1, d, hours, minutes).getTime();
}
const shiftDay = (day, n) => localDay(new Date(dayAt(day) + n * DAY + 2 * HOUR)); // +2 h rides over DST
const toLocalInput = (ms) => (ms == null ? '' : `${localDay(new Date(ms))}T${pad(new Date(ms).getHours())}:${pad(new Date(ms).getMinutes())}`);
const toTimeInput = (ms) => (ms == null ? '' : `${pad(new Date(ms).getHours())}:${pad(new Date(ms).getMinutes())}`);
function parseLocalInput(v) {
  // "YYYY-MM-DDTHH:MM" without an offset is read as local time.
  const t = v ? new Date(v).getTime() : NaN;
  return Number.isNaN(t) ? null : t;
}

/** "due in 12 min" / "overdue 3 min", kept current by the ticker. */
function dueSpan(ms) {
  const el = h('span', { class: 'due', 'data-due': ms, title: fmtDateTime(ms) });
  updateDue(el);
  return el;
}
function updateDue(el) {
  const left = Number(el.dataset.due) - Date.now();
  el.classList.toggle('overdue', left < 0);
  el.textContent = left < 0 ? `overdue ${fmtDuration(-left)}` : `due in ${fmtDuration(left)}`;
}

const tierBadge = (tier) => (tier === 'vip'
  ? h('span', { class: 'badge vip', title: 'VIP customer' }, 'VIP')
  : h('span', { class: 'badge std', title: 'Standard customer' }, 'STD'));
const ringBadge = (ring) => h('span', { class: `ring ring-${ring}`, title: `Escalation ring ${ring}` }, `R${ring}`);
const priorityBadge = (p) => (p && p !== 'normal' ? h('span', { class: `badge prio-${p}` }, label(p)) : null);
const statusChip = (st) => h('span', { class: `status st-${st}` }, label(st));

// ---------------------------------------------------------------- API

/** An Error carrying the HTTP status and the server's code and field. */
const apiError = (status, code, message, field) => Object.assign(new Error(message), { status, code, field });

/** The one way to talk to the server. Resolves to the parsed body (null for 204);
 *  rejects with an apiError carrying the server's message. A 401 brings up sign-in. */
function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (method !== 'GET') {
    opts.headers['content-type'] = 'application/json';
    if (state.csrf) opts.headers['x-csrf-token'] = state.csrf;
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  return send(path, opts);
}

/** Sends raw bytes (a blob, or one part of it) with the CSRF header; answers like api(). */
function apiBytes(method, path, bytes, headers) {
  const opts = { method, credentials: 'same-origin', headers: { accept: 'application/json', ...headers }, body: bytes };
  if (state.csrf) opts.headers['x-csrf-token'] = state.csrf;
  return send(path, opts);
}

/** The error also carries the whole error body (`body`), for codes that say more. */
async function send(path, opts) {
  let res;
  try {
    res = await fetch(path, opts);
  } catch (e) {
    throw apiError(0, 'network', 'The server cannot be reached. Check the connection and try again.');
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    const err = Object.assign(apiError(res.status, data && data.code, (data && data.error) || `${res.status} ${res.statusText}`, data && data.field), { body: data });
    if (res.status === 401 && !path.startsWith('/v1/auth/')) {
      showLogin(state.csrf ? 'Your session has ended. Please sign in again.' : null);
    }
    throw err;
  }
  return data;
}

// Action errors: shown in an alert box and kept across live re-renders of the same page.
function errorBox(id) {
  const saved = state.errors[id];
  const el = h('div', { id, class: 'error-box', role: 'alert' });
  if (saved && saved.hash === location.hash) el.textContent = saved.text;
  else el.hidden = true;
  return el;
}
function showError(id, err) {
  if (err && err.status === 401) return;
  const text = (err && err.message) || String(err);
  state.errors[id] = { hash: location.hash, text };
  const el = $(id);
  if (el) { el.textContent = text; el.hidden = false; }
}
function clearError(id) {
  delete state.errors[id];
  const el = $(id);
  if (el) { el.textContent = ''; el.hidden = true; }
}

/** Runs an action, reports failure in `errorId`, then re-renders the current view. */
async function act(errorId, fn) {
  try {
    await fn();
    clearError(errorId);
  } catch (err) {
    showError(errorId, err);
  }
  rerender();
}

// ---------------------------------------------------------------- sign-in and shell

function showLogin(message) {
  stopEvents();
  state.csrf = null;
  state.me = null;
  state.seq++;
  if (!$('login-form')) {
    $('app').replaceChildren(h('div', { class: 'login-wrap' },
      h('form', { id: 'login-form', class: 'card login', novalidate: true, onsubmit: submitLogin },
        h('h1', { class: 'brand-big' }, 'Fieldsync'),
        h('p', { class: 'muted' }, 'Dispatch console'),
        field('login-user', 'User', h('input', { id: 'login-user', name: 'user', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' })),
        field('login-password', 'Password', h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password' })),
        h('div', { id: 'login-error', class: 'error-box', role: 'alert', hidden: true }),
        h('button', { type: 'submit', class: 'btn primary' }, 'Sign in'))));
  }
  if (message) { $('login-error').textContent = message; $('login-error').hidden = false; }
  $('login-user').focus();
}

async function submitLogin(e) {
  e.preventDefault();
  const button = e.currentTarget.querySelector('button[type=submit]');
  const errEl = $('login-error');
  errEl.hidden = true;
  button.disabled = true;
  try {
    const r = await api('POST', '/v1/auth/login', { user: $('login-user').value.trim(), password: $('login-password').value });
    state.csrf = r.csrf;
    state.me = { user: r.user, role: r.role };
    startApp();
  } catch (err) {
    errEl.textContent = err.message;
    errEl.hidden = false;
    button.disabled = false;
  }
}

async function logout() {
  try { await api('POST', '/v1/auth/logout'); } catch (e) { /* signed out either way */ }
  history.replaceState(null, '', location.pathname + location.search); // the next user starts on the queues
  state.errors = {};
  showLogin();
}

function startApp() {
  // Admins read everything but plan nothing: the stylesheet hides the controls they may not use.
  document.body.dataset.role = state.me.role;
  state.manuals = { form: null, latest: new Map(), selected: null, onList: null };
  state.reportLinks = {};
  const path = location.hash.replace(/^#/, '').split('?')[0];
  if (!path || path === '/') history.replaceState(null, '', '#/queues');
  renderShell();
  startEvents();
  refreshBadge();
  route();
}

function renderShell() {
  const link = (href, text) => h('a', { href }, text);
  $('app').replaceChildren(
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '#/queues' }, 'Fieldsync'),
      h('nav', { id: 'nav', 'aria-label': 'Main' },
        link('#/queues', 'Queues'), link('#/intake', 'Intake'), link('#/board', 'Board'), link('#/dashboard', 'Dashboard'),
        link('#/manuals', 'Manuals')),
      h('div', { class: 'topbar-right' },
        h('a', { href: '#/reminders', class: 'reminders-link', title: 'Open reminders' },
          'Reminders ', h('span', { id: 'reminder-count', class: 'count-badge', 'aria-label': 'open reminders' }, '0')),
        h('span', { id: 'whoami', title: state.me.name || '' }, `${state.me.user} (${state.me.role})`),
        h('button', { id: 'logout', type: 'button', class: 'btn ghost', onclick: logout }, 'Sign out'))),
    h('main', { id: 'view' }),
    h('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' }));
  // Inputs the user has typed in keep their value across live re-renders (see route()).
  $('view').addEventListener('input', (e) => { if (e.target.id) e.target.dataset.dirty = '1'; });
}

async function refreshBadge() {
  try { setBadge((await api('GET', '/v1/reminders')).length); } catch (e) { /* the badge keeps its last count */ }
}
function setBadge(n) {
  const el = $('reminder-count');
  if (!el) return;
  el.textContent = String(n);
  el.classList.toggle('has-open', n > 0);
}

function toast(text, href) {
  const box = $('toasts');
  if (!box) return;
  const t = h('div', { class: 'toast' }, href ? h('a', { href }, text) : text,
    h('button', { type: 'button', class: 'toast-close', 'aria-label': 'Dismiss', onclick: () => t.remove() }, '×'));
  box.append(t);
  setTimeout(() => t.remove(), 8000);
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^\/queues$/, viewQueues], [/^\/intake$/, viewIntake], [/^\/board$/, viewBoard],
  [/^\/dashboard$/, viewDashboard], [/^\/reminders$/, viewReminders], [/^\/jobs\/([^/]+)$/, viewJob],
  [/^\/manuals$/, viewManuals], [/^\/manuals\/([^/]+)\/(\d+)$/, viewManuals],
];

function parseHash() {
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  return { path: path || '/', query: new URLSearchParams(query || '') };
}

/** Renders the view for the current hash. With refresh=true (live updates, after actions)
 *  the old content stays until the new is ready, and typed-in inputs and focus survive. */
async function route(refresh = false) {
  const view = $('view');
  if (!view || !state.csrf) return;
  const { path, query } = parseHash();
  let fn = null;
  let match = null;
  for (const [re, f] of ROUTES) if (!fn && (match = path.match(re))) fn = f;
  if (!fn) { location.replace('#/queues'); return; }
  // Never rebuild a form the user may be filling in (the manual form may also be uploading).
  if (refresh && (fn === viewIntake || fn === viewManuals)) return;
  document.querySelectorAll('#nav a').forEach((a) => {
    const href = a.getAttribute('href').slice(1);
    const on = path === href || path.startsWith(`${href}/`);
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  const seq = ++state.seq;
  if (!refresh) {
    state.errors = {};
    // Another day on the board or another job: keep the page until the new one is ready.
    if (path.split('/')[1] !== state.lastPath) {
      view.replaceChildren(h('p', { class: 'loading' }, 'Loading…'));
      window.scrollTo(0, 0);
    }
    state.lastPath = path.split('/')[1];
  }
  try {
    const node = await fn({ params: match.slice(1).map(decodeURIComponent), query });
    if (seq !== state.seq) return;
    // Typed-in values carry over only onto a fresh copy of the same page.
    const keep = refresh && view.dataset.hash === location.hash ? snapshotInputs(view) : null;
    view.replaceChildren(node);
    view.dataset.hash = location.hash;
    if (keep) restoreInputs(keep);
  } catch (err) {
    if (seq !== state.seq || err.status === 401) return;
    view.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, err.message, ' ',
      h('button', { type: 'button', class: 'btn', onclick: () => route() }, 'Retry')));
  }
}

const rerender = () => route(true);

function snapshotInputs(root) {
  const values = {};
  root.querySelectorAll('[data-dirty]').forEach((el) => { if (el.id) values[el.id] = el.value; });
  const active = document.activeElement;
  return { values, focus: active && root.contains(active) ? active.id : null };
}
function restoreInputs({ values, focus }) {
  for (const [id, value] of Object.entries(values)) {
    const el = $(id);
    if (el) { el.value = value; el.dataset.dirty = '1'; }
  }
  if (focus && $(focus)) $(focus).focus();
}

// ---------------------------------------------------------------- live updates

function startEvents() {
  stopEvents();
  const es = new EventSource('/v1/events');
  state.events = es;
  es.addEventListener('changed', scheduleRefresh);
  es.addEventListener('reminder', (e) => {
    scheduleRefresh();
    try {
      const r = JSON.parse(e.data);
      toast(`Ring ${r.ring} · ${label(r.clock)}: ${r.message}`, `#/jobs/${enc(r.job_id)}`);
    } catch (err) { toast('New reminder', '#/reminders'); }
  });
  es.addEventListener('ready', () => {
    // After a reconnect something may have changed while we were away.
    if (state.eventsReady) scheduleRefresh();
    state.eventsReady = true;
  });
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED || state.events !== es) return; // the browser retries by itself
    // The server refused the stream outright; a 401 here brings up sign-in, otherwise retry later.
    state.events = null;
    api('GET', '/v1/me').then(() => setTimeout(() => { if (state.csrf && !state.events) startEvents(); }, 5000), () => {});
  };
}

function stopEvents() {
  if (state.events) state.events.close();
  state.events = null;
  state.eventsReady = false;
  clearTimeout(state.refreshTimer);
}

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(() => {
    if (state.drag) { scheduleRefresh(); return; } // do not pull the board from under a drag
    refreshBadge();
    rerender();
  }, 150);
}

// ---------------------------------------------------------------- queues

async function viewQueues() {
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

// ---------------------------------------------------------------- intake

async function viewIntake() {
  const input = (id, attrs = {}) => h('input', { id, name: id, type: 'text', ...attrs });
  const regions = h('datalist', { id: 'region-list' });
  // Regions the engineers work in, as suggestions for the region field (best effort).
  api('GET', '/v1/users').then((users) => {
    const known = [...new Set(users.map((u) => u.region).filter(Boolean))].sort();
    regions.replaceChildren(...known.map((r) => h('option', { value: r })));
  }, () => {});
  const form = h('form', { id: 'intake-form', class: 'card intake', novalidate: true, onsubmit: submitIntake },
    h('div', { id: 'intake-error', class: 'error-box', role: 'alert', hidden: true }),
    h('fieldset', {}, h('legend', {}, 'Customer'),
      field('customer_name', 'Name', input('customer_name', { autocomplete: 'off' })),
      field('customer_phone', 'Phone', input('customer_phone', { type: 'tel' })),
      field('customer_email', 'Email', input('customer_email', { type: 'email' })),
      field('tier', 'Tier', select('tier', [['standard', 'Standard'], ['vip', 'VIP']], 'standard'))),
    h('fieldset', {}, h('legend', {}, 'Site'),
      field('site_address', 'Address', input('site_address')),
      field('region', 'Region', input('region', { list: 'region-list' })), regions),
    h('fieldset', {}, h('legend', {}, 'Product'),
      field('product_model', 'Model', input('product_model')),
      field('product_serial', 'Serial number', input('product_serial'))),
    h('fieldset', { class: 'wide' }, h('legend', {}, 'Problem'),
      field('kind', 'Kind', select('kind', KINDS, 'repair')),
      field('category', 'Category', input('category')),
      field('priority', 'Priority', select('priority', PRIORITIES, 'normal')),
      field('call_received_at', 'Call received', input('call_received_at', { type: 'datetime-local' }), 'Leave empty for now'),
      h('div', { class: 'field span-all' }, h('label', { for: 'description' }, 'Description'),
        h('textarea', { id: 'description', name: 'description', rows: 4 }))),
    h('div', { class: 'form-actions' }, h('button', { type: 'submit', class: 'btn primary' }, 'Create job')));
  form.addEventListener('input', (e) => { e.target.classList.remove('invalid'); e.target.removeAttribute('aria-invalid'); });
  return h('div', { class: 'page' }, h('h1', { class: 'page-title' }, 'New job'), form);
}

async function submitIntake(e) {
  e.preventDefault();
  const form = e.currentTarget;
  const v = (id) => $(id).value.trim();
  const errEl = $('intake-error');
  form.querySelectorAll('.invalid').forEach((el) => { el.classList.remove('invalid'); el.removeAttribute('aria-invalid'); });
  errEl.hidden = true;
  const body = {
    kind: v('kind'),
    customer: { name: v('customer_name'), tier: v('tier'), phone: v('customer_phone'), email: v('customer_email') },
    site: { address: v('site_address'), region: v('region') },
    product: { model: v('product_model'), serial: v('product_serial') },
    problem: { category: v('category'), description: v('description') },
    priority: v('priority'),
  };
  if (v('call_received_at')) body.call_received_at = parseLocalInput(v('call_received_at'));
  const button = form.querySelector('button[type=submit]');
  button.disabled = true;
  try {
    const job = await api('POST', '/v1/jobs', body);
    location.hash = `#/jobs/${enc(job.id)}`;
  } catch (err) {
    if (err.status === 401) return;
    errEl.textContent = err.message;
    errEl.hidden = false;
    const input = intakeInput(err.field);
    if (input) { input.classList.add('invalid'); input.setAttribute('aria-invalid', 'true'); input.focus(); }
  } finally {
    button.disabled = false;
  }
}

function intakeInput(path) {
  if (!path) return null;
  return $(INTAKE_FIELDS[path] || '') || $(path.replace(/\./g, '_')) || $(path.split('.').pop());
}

// ---------------------------------------------------------------- day board

// The server counts days in UTC unless told the browser's offset for that date (DST aware).
function tzOffset(day) {
  return new Date(`${day}T00:00:00`).getTimezoneOffset();
}

async function viewBoard({ query }) {
  const day = validDay(query.get('day')) || localDay();
  if (state.board.day !== day) { state.board.day = day; state.board.selected = null; }
  const data = await api('GET', `/v1/board?day=${day}&tz_offset=${tzOffset(day)}`);
  const jobs = new Map();
  for (const e of data.engineers) for (const j of e.jobs) jobs.set(j.id, j);
  for (const j of data.unplanned) jobs.set(j.id, j);
  const ctx = {
    day, jobs, t0: dayAt(day, BOARD_FROM), t1: dayAt(day, BOARD_TO),
    panel: h('aside', { id: 'assign-panel', class: 'card panel', 'aria-label': 'Assign job', hidden: true }),
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
      h('h2', { id: 'unplanned-h' }, 'Unplanned ', h('span', { class: 'count' }, String(data.unplanned.length))),
      data.unplanned.length ? null : h('p', { class: 'empty' }, 'Everything is planned.'), unplanned),
    boardTimeline(ctx, data.engineers),
    ctx.panel);
  if (state.board.selected) await fillPanel(ctx, state.board.selected);
  return h('div', { class: 'page board' },
    h('div', { class: 'toolbar' },
      h('h1', { class: 'page-title' }, 'Day board'),
      h('button', { type: 'button', class: 'btn', onclick: () => goDay(shiftDay(day, -1)), 'aria-label': 'Previous day' }, '‹'),
      h('label', { for: 'board-day', class: 'sr-only' }, 'Day'),
      h('input', { id: 'board-day', type: 'date', value: day, onchange: (e) => validDay(e.target.value) && goDay(e.target.value) }),
      h('button', { type: 'button', class: 'btn', onclick: () => goDay(shiftDay(day, 1)), 'aria-label': 'Next day' }, '›'),
      h('button', { type: 'button', class: 'btn ghost', onclick: () => goDay(localDay()) }, 'Today'),
      h('span', { class: 'muted' }, `${data.engineers.length} engineers · ${jobs.size - data.unplanned.length} planned · ${data.unplanned.length} unplanned`)),
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
  return h('section', { class: 'card timeline', 'aria-label': 'Engineers and appointments' },
    h('div', { class: 'board-head' }, h('div', { class: 'board-label' }, 'Engineer'), scale),
    engineers.length ? engineers.map((e) => engineerRow(ctx, e)) : h('p', { class: 'empty' }, 'No engineers.'));
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
    const line = h('div', { class: 'now-line', title: `Now ${fmtTime(now)}` });
    line.style.left = `${((now - ctx.t0) / BOARD_SPAN) * 100}%`;
    track.append(line);
  }
  const row = h('div', { class: 'board-row', 'data-engineer': eng.user },
    h('div', { class: 'board-label' },
      h('strong', {}, eng.name || eng.user), h('span', { class: 'muted' }, ` ${eng.region || ''} · ${eng.jobs.length}`),
      h('div', { class: 'skills muted' }, (eng.skills || []).join(', '))),
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
  const when = j.appointment_start != null ? `${fmtTime(j.appointment_start)}–${fmtTime(j.appointment_end)}` : 'no appointment';
  const el = h('div', {
    class: ['board-job', `st-${j.status}`, j.tier === 'vip' && 'is-vip', `prio-${j.priority}`, state.board.selected === j.id && 'selected'],
    'data-job-id': j.id, draggable: 'true', tabindex: '0', role: 'button',
    title: `${j.customer_name} · ${label(j.kind)} · ${j.region} · ${label(j.status)} · ${when}${j.assignee ? ` · ${j.assignee}` : ''}`,
  },
  h('div', { class: 'bj-name' }, j.tier === 'vip' ? h('span', { class: 'badge vip' }, 'VIP') : null, ' ', j.customer_name),
  h('div', { class: 'bj-meta' }, [j.appointment_start != null ? when : j.assignee || 'unassigned', label(j.kind), j.region].join(' · ')));
  el.addEventListener('click', () => openPanel(ctx, j.id));
  el.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); openPanel(ctx, j.id); }
  });
  el.addEventListener('dragstart', (e) => {
    e.dataTransfer.setData('text/plain', j.id);
    e.dataTransfer.effectAllowed = 'move';
    state.drag = j;
    el.classList.add('dragging');
  });
  el.addEventListener('dragend', () => { state.drag = null; el.classList.remove('dragging'); });
  return el;
}

function dropTarget(el, onDrop) {
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
  // Appointment first, then the engineer, so the job ends up "assigned".
  act('board-error', async () => {
    await api('POST', `/v1/jobs/${enc(id)}/appointment`, { start, end });
    if (!job || job.assignee !== user) await api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: user });
  });
}

function openPanel(ctx, id) {
  state.board.selected = id;
  ctx.layout.querySelectorAll('.board-job').forEach((el) => el.classList.toggle('selected', el.dataset.jobId === id));
  fillPanel(ctx, id);
}

function closePanel(ctx) {
  state.board.selected = null;
  ctx.panel.hidden = true;
  ctx.layout.classList.remove('with-panel');
  ctx.layout.querySelectorAll('.board-job.selected').forEach((el) => el.classList.remove('selected'));
}

async function fillPanel(ctx, id) {
  const { panel, day } = ctx;
  panel.hidden = false;
  ctx.layout.classList.add('with-panel');
  if (!panel.firstChild) panel.append(h('p', { class: 'loading' }, 'Loading…'));
  let job = ctx.jobs.get(id);
  let suggestions;
  try {
    if (!job) job = (await api('GET', `/v1/jobs/${enc(id)}`)).summary;
    suggestions = await api('GET', `/v1/jobs/${enc(id)}/suggestions?day=${day}&tz_offset=${tzOffset(day)}`);
  } catch (err) {
    if (state.board.selected === id) panel.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, err.message));
    return;
  }
  if (state.board.selected !== id) return;
  const onDay = job.appointment_start >= dayAt(day) && job.appointment_start < dayAt(shiftDay(day, 1));
  const start = h('input', { id: 'appt-start', type: 'time', step: 900, value: onDay ? toTimeInput(job.appointment_start) : '' });
  const end = h('input', { id: 'appt-end', type: 'time', step: 900, value: onDay ? toTimeInput(job.appointment_end) : '' });
  fillEndFromStart(start, end, (v) => toTimeInput(dayAt(day, ...v.split(':').map(Number)) + DEFAULT_VISIT));
  const save = () => act('board-error', async () => {
    if (!start.value || !end.value) throw new Error('Pick a start and an end time.');
    const at = (v) => dayAt(day, ...v.split(':').map(Number));
    await api('POST', `/v1/jobs/${enc(id)}/appointment`, { start: at(start.value), end: at(end.value) });
    delete start.dataset.dirty;
    delete end.dataset.dirty;
  });
  panel.replaceChildren();
  append(panel, [
    h('div', { class: 'panel-head' },
      h('h2', {}, tierBadge(job.tier), ' ', job.customer_name),
      h('button', { type: 'button', class: 'btn ghost close', 'aria-label': 'Close panel', onclick: () => closePanel(ctx) }, '×')),
    dl([
      ['Kind', label(job.kind)], ['Status', statusChip(job.status)], ['Priority', label(job.priority)],
      ['Region', job.region], ['Ring', ringBadge(job.ring)], ['Engineer', job.assignee || 'Unassigned'],
      ['Appointment', fmtRange(job.appointment_start, job.appointment_end)],
      job.resolve_by != null && ['Resolve', dueSpan(job.resolve_by)],
    ]),
    h('p', {}, h('a', { href: `#/jobs/${enc(id)}` }, 'Open job →')),
    h('h3', {}, `Appointment on ${day}`),
    h('div', { class: 'appt-editor' }, field('appt-start', 'Start', start), field('appt-end', 'End', end),
      h('button', { id: 'appt-save', type: 'button', class: 'btn primary', onclick: save }, 'Save')),
    h('h3', {}, `Suggested engineers for ${day}`),
    suggestionList(suggestions, job.assignee, (user) => act('board-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: user }))),
    job.assignee ? h('button', { type: 'button', class: 'btn ghost', onclick: () => act('board-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: null })) }, 'Unassign') : null]);
}

/** When a start is picked and the end is still empty, propose an end. */
function fillEndFromStart(start, end, propose) {
  start.addEventListener('change', () => {
    if (start.value && !end.value) { end.value = propose(start.value); end.dataset.dirty = '1'; }
  });
}

/** Ranked engineers for a job; shared by the board panel and the job page. */
function suggestionList(suggestions, current, onAssign) {
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

// ---------------------------------------------------------------- job page

async function viewJob({ params: [id] }) {
  const v = await api('GET', `/v1/jobs/${enc(id)}`);
  const { job, summary: sum } = v;
  const sugDay = sum.appointment_start != null ? localDay(new Date(sum.appointment_start)) : localDay();
  let suggestions;
  try {
    suggestions = suggestionList(await api('GET', `/v1/jobs/${enc(id)}/suggestions?day=${sugDay}&tz_offset=${tzOffset(sugDay)}`), sum.assignee,
      (user) => act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: user })));
  } catch (err) {
    if (err.status === 401) throw err;
    suggestions = h('p', { class: 'error-box', role: 'alert' }, `Suggestions unavailable: ${err.message}`);
  }
  const c = job.customer || {};
  return h('div', { class: 'page job' },
    h('div', { class: 'job-head' },
      h('div', {},
        h('div', { class: 'job-title-line' }, tierBadge(c.tier || sum.tier),
          h('h1', { id: 'job-title' }, `${c.name || sum.customer_name} — ${label(job.kind)}`)),
        h('div', { class: 'job-meta' },
          h('span', { id: 'job-status', class: `status st-${sum.status}`, 'data-status': sum.status }, sum.status.replace(/_/g, ' ')),
          h('span', { id: 'job-ring', class: `ring ring-${sum.ring}`, title: 'Escalation ring' }, `Ring ${sum.ring}`),
          priorityBadge(sum.priority),
          (v.flags || []).map((f) => h('span', { class: 'badge flag' }, `⚑ ${f}`)),
          h('span', { class: 'muted' }, `Job ${job.id} · ${v.visits || 0} visit${v.visits === 1 ? '' : 's'} · received ${fmtDateTime(job.call_received_at)}`))),
      statusActions(id, sum)),
    errorBox('job-error'),
    h('div', { class: 'job-grid' },
      h('div', { class: 'col' },
        section('Customer and site', dl([['Customer', c.name], ['Tier', c.tier === 'vip' ? 'VIP' : 'Standard'],
          ['Phone', c.phone], ['Email', c.email], ['Address', job.site && job.site.address], ['Region', job.site && job.site.region]])),
        section('Product and problem', productProblem(job)),
        section('Field record', fieldRecord(job, sum)),
        mediaBlock(id, v),
        section('Status trail', transitionsTable(job.transitions || []))),
      h('div', { class: 'col' },
        section('Clocks', clocksList(v.clocks || [])),
        section('Appointment and engineer', appointmentEditor(id, sum),
          h('h3', {}, `Suggested engineers for ${sugDay}`), suggestions),
        section('Escalation', escalation(job, sum)),
        section('Reminders', v.reminders && v.reminders.length
          ? h('ul', { class: 'reminder-list' }, v.reminders.map((r) => reminderItem(r, 'job-error'))) : h('p', { class: 'empty' }, 'None.')),
        section('Flags', v.flags && v.flags.length
          ? h('ul', { class: 'plain' }, v.flags.map((f) => h('li', {}, `⚑ ${f}`))) : h('p', { class: 'empty' }, 'None.')))),
    section('History', historyTable(v.history || [])));
}

function statusActions(id, sum) {
  const btn = (to, text) => h('button', {
    type: 'button', class: ['btn', 'status-btn', to === 'cancelled' && 'danger'], 'data-to': to,
    disabled: sum.status === to, onclick: () => act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/status`, { to })),
  }, text);
  // Reopening brings the job back to its engineer when it has one, else back to planning.
  return h('div', { class: 'actions', role: 'group', 'aria-label': 'Status actions' },
    btn(sum.assignee ? 'assigned' : 'scheduled', 'Reopen / follow-up'),
    sum.assignee ? btn('scheduled', 'Reopen unassigned') : null,
    btn('closed', 'Close (feedback in)'),
    btn('cancelled', 'Cancel'));
}

function productProblem(job) {
  const p = job.product || {};
  const pr = job.problem || {};
  return [
    dl([['Model', p.model], ['Serial', p.serial], ['Installed', fmtAny(p.install_date)], ['Purchase ref', p.purchase_ref],
      ['Warranty until', fmtAny(p.warranty_end)], ['Category', pr.category], ['Priority', label(job.priority)],
      ['Created', fmtDateTime(job.created_at)]]),
    h('p', { class: 'description' }, pr.description || ''),
  ];
}

function clocksList(clocks) {
  if (!clocks.length) return h('p', { class: 'empty' }, 'No clocks.');
  return h('ul', { id: 'job-clocks', class: 'clocks' }, clocks.map((c) => h('li', { class: ['clock', c.state], 'data-clock': c.clock },
    h('span', { class: 'clock-name' }, label(c.clock)),
    h('span', { class: 'clock-state' }, label(c.state)),
    c.done_at != null ? h('span', {}, `done ${fmtDateTime(c.done_at)}`) : dueSpan(c.due),
    h('span', { class: 'muted' }, `due ${fmtDateTime(c.due)}`))));
}

function appointmentEditor(id, sum) {
  const start = h('input', { id: 'job-appt-start', type: 'datetime-local', value: toLocalInput(sum.appointment_start) });
  const end = h('input', { id: 'job-appt-end', type: 'datetime-local', value: toLocalInput(sum.appointment_end) });
  fillEndFromStart(start, end, (v) => toLocalInput(parseLocalInput(v) + DEFAULT_VISIT));
  const save = () => act('job-error', async () => {
    const from = parseLocalInput(start.value);
    const to = parseLocalInput(end.value);
    if (from == null || to == null) throw new Error('Pick a start and an end.');
    await api('POST', `/v1/jobs/${enc(id)}/appointment`, { start: from, end: to });
    delete start.dataset.dirty;
    delete end.dataset.dirty;
  });
  return [
    dl([['Appointment', fmtRange(sum.appointment_start, sum.appointment_end)],
      ['Engineer', sum.assignee ? h('span', {}, sum.assignee, ' ',
        h('button', { type: 'button', class: 'btn ghost small', onclick: () => act('job-error', () => api('POST', `/v1/jobs/${enc(id)}/assign`, { assignee: null })) }, 'Unassign'))
        : 'Unassigned']]),
    h('div', { class: 'appt-editor' }, field('job-appt-start', 'Start', start), field('job-appt-end', 'End', end),
      h('button', { id: 'job-appt-save', type: 'button', class: 'btn primary', onclick: save }, 'Save appointment')),
  ];
}

function escalation(job, sum) {
  const helps = (job.escalation && job.escalation.help_requests) || [];
  return [
    h('p', {}, ringBadge(sum.ring), ` Ring ${sum.ring} of 3`),
    helps.length ? h('ul', { class: 'plain' }, helps.map((r) => h('li', {},
      h('strong', {}, r.by), h('span', { class: 'muted' }, ` ${fmtDateTime(r.at)} — `), r.reason)))
      : h('p', { class: 'empty' }, 'No help requested.'),
  ];
}

function table(head, rows, attrs = {}) {
  return h('table', { class: 'data', ...attrs },
    h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows));
}
const td = (v, cls) => h('td', { class: cls }, v === null || v === undefined || v === '' ? '—' : v);

function fieldRecord(job, sum) {
  const checklist = Object.entries(job.checklist || {}).map(([key, item]) => ({ key, ...item }))
    .sort((a, b) => (a.position ?? 0) - (b.position ?? 0));
  const outcome = job.outcome || {};
  const fvs = outcome.first_visit_success ?? sum.first_visit_success;
  const rating = job.rating;
  return [
    h('h3', {}, 'Checklist'),
    checklist.length ? h('ul', { class: 'checklist' }, checklist.map((it) => h('li', { class: it.done ? 'done' : 'open' },
      h('span', { class: 'mark', 'aria-label': it.done ? 'done' : 'not done' }, it.done ? '✓' : '○'), ' ', it.label || it.key,
      it.value !== null && it.value !== undefined && it.value !== '' ? h('span', { class: 'muted' }, ` — ${it.value}`) : null,
      it.note ? h('div', { class: 'muted note' }, it.note) : null))) : h('p', { class: 'empty' }, 'No checklist.'),
    h('h3', {}, 'Notes'),
    job.notes ? h('p', { class: 'description' }, job.notes) : h('p', { class: 'empty' }, 'No notes.'),
    h('h3', {}, 'Parts'),
    (job.parts || []).length ? table(['Part', 'Qty', 'Warranty', 'By', 'At'], job.parts.map((p) => h('tr', {},
      td(p.part_number), td(String(p.quantity)), td(p.under_warranty ? 'Yes' : 'No'), td(p.by), td(fmtDateTime(p.at)))))
      : h('p', { class: 'empty' }, 'No parts used.'),
    h('h3', {}, 'Time'),
    (job.time_entries || []).length ? table(['Kind', 'Start', 'End', 'Duration', 'By'], job.time_entries.map((t) => h('tr', {},
      td(label(t.kind)), td(fmtDateTime(t.start)), td(fmtDateTime(t.end)), td(t.end != null ? fmtDuration(t.end - t.start) : 'running'), td(t.by))))
      : h('p', { class: 'empty' }, 'No time booked.'),
    h('h3', {}, 'Outcome'),
    dl([['First visit success', fvs == null ? '—' : fvs ? 'Yes' : 'No'], ['Cause', outcome.cause], ['Fix', outcome.fix], ['Summary', outcome.summary],
      ['Signature', job.signature ? 'Captured' : 'None'],
      ['Rating', rating ? h('span', { class: 'stars', title: `${rating.score} of 5` }, '★'.repeat(rating.score) + '☆'.repeat(5 - rating.score)) : 'Not rated'],
      rating && rating.comment ? ['Comment', rating.comment] : null]),
    h('h3', {}, 'Photos'),
    (job.photos || []).length ? h('ul', { class: 'plain photos' }, job.photos.map((p) => h('li', {},
      h('strong', {}, p.caption || 'Untitled'), h('span', { class: 'muted' },
        ` ${p.mime} · ${Math.round((p.size || 0) / 1024)} KB · ${fmtDateTime(p.taken_at)} · `),
      h('code', { title: p.sha256 }, String(p.sha256 || '').slice(0, 12)))))
      : h('p', { class: 'empty' }, 'No photos.'),
  ];
}

// ---------------------------------------------------------------- job media and report

const blobUrl = (sha256) => `/v1/blobs/${enc(sha256)}`;

/** The photos, signature and service report the field record names, and whether the phone
 *  has uploaded their bytes yet; then the signed report and the customer's link to it. */
function mediaBlock(id, v) {
  const media = v.media || [];
  return h('section', { id: 'job-media', class: 'card media', 'aria-labelledby': 'job-media-h' },
    h('h2', { id: 'job-media-h' }, 'Media'),
    media.length ? h('ul', { id: 'media-list', class: 'media-list' }, media.map(mediaItem))
      : h('p', { class: 'empty' }, 'No photos, signature or report yet.'),
    v.report ? reportBlock(id, v.report) : null);
}

function mediaItem(m) {
  const url = blobUrl(m.sha256);
  const caption = m.caption || label(m.role);
  const open = (child, cls) => h('a', { href: url, target: '_blank', rel: 'noopener', class: cls }, child);
  const image = m.received && m.role !== 'report' && String(m.mime || '').startsWith('image/');
  const glyph = { photo: 'IMG', signature: 'SIG', report: 'PDF' }[m.role] || 'FILE';
  return h('li', { class: ['media-item', `role-${m.role}`, m.received ? 'is-received' : 'is-waiting'], 'data-sha256': m.sha256, 'data-role': m.role },
    image ? open(h('img', { class: 'media-thumb', src: url, alt: caption, loading: 'lazy' }), 'media-thumb-link')
      : h('span', { class: 'media-thumb media-glyph', 'aria-hidden': 'true' }, glyph),
    h('div', { class: 'media-body' },
      h('div', { class: 'media-title' }, h('span', { class: 'badge media-role' }, label(m.role)), ' ',
        m.received ? open(caption, 'media-link') : h('span', {}, caption)),
      h('div', { class: 'muted' }, `${m.mime || '—'} · ${fmtSize(m.size)} · `,
        h('span', { class: ['media-state', m.received ? 'received' : 'waiting'] }, m.received ? 'received' : 'waiting for the phone'))));
}

function reportBlock(id, report) {
  const saved = state.reportLinks[id];
  const out = h('div', { id: 'report-link-out', class: 'report-link-out', hidden: true });
  if (saved && saved.expires_at > Date.now()) showReportLink(out, saved);
  const button = h('button', {
    id: 'report-link-btn', type: 'button', class: 'btn report-link-btn', disabled: !report.received,
    title: report.received ? 'Make a download link for the customer' : 'Available once the phone has uploaded the report',
  }, 'Customer link');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      const link = await api('POST', `/v1/jobs/${enc(id)}/report-link`);
      state.reportLinks[id] = link;
      clearError('job-error');
      const target = $('report-link-out') || out; // a live update may have redrawn the page meanwhile
      showReportLink(target, link);
      const input = target.querySelector('input');
      input.focus();
      input.select();
    } catch (err) {
      showError('job-error', err);
    } finally {
      button.disabled = false;
      if ($('report-link-btn')) $('report-link-btn').disabled = false;
    }
  });
  return h('div', { id: 'job-report', class: 'report-box', 'data-received': String(!!report.received) },
    h('h3', {}, 'Service report'),
    h('p', { id: 'report-signed-by' }, `Signed by ${report.signed_by || '—'}`),
    h('p', {}, report.received
      ? h('a', { id: 'report-pdf', href: `/v1/jobs/${enc(id)}/report`, target: '_blank', rel: 'noopener' }, 'Service report (PDF)')
      : h('span', { class: 'muted' }, 'Service report (PDF): waiting for the phone')),
    h('div', { class: 'report-actions' }, button, out));
}

/** The customer link in a read-only input, selected on focus for copying. */
function showReportLink(out, link) {
  const input = h('input', { id: 'report-link-url', type: 'text', readonly: true, class: 'report-link-url',
    value: new URL(link.url, location.origin).href, 'aria-label': 'Customer link to the signed service report' });
  input.addEventListener('focus', () => input.select());
  out.replaceChildren(input, h('span', { id: 'report-link-expires', class: 'muted' }, `expires ${fmtDateTime(link.expires_at)}`));
  out.hidden = false;
}

function transitionsTable(transitions) {
  if (!transitions.length) return h('p', { class: 'empty' }, 'No status changes yet.');
  return table(['At', 'To', 'By', 'Device', 'Location'], transitions.map((t) => h('tr', {},
    td(fmtDateTime(t.at)), td(statusChip(t.to)), td(`${t.by || '—'}${t.role ? ` (${t.role})` : ''}`), td(t.device),
    td(t.lat != null && t.lon != null ? `${Number(t.lat).toFixed(4)}, ${Number(t.lon).toFixed(4)}` : null))));
}

/** Audit trail. The column heads sit in their own table so that #job-history holds exactly
 *  one row per entry; both tables share fixed column widths. */
function historyTable(history) {
  const cols = () => h('colgroup', {}, ['c-time', 'c-time', 'c-kind', 'c-user', 'c-dev', 'c-fields', 'c-detail'].map((c) => h('col', { class: c })));
  return h('div', { class: 'history' },
    h('table', { class: 'data history-head', 'aria-hidden': 'true' }, cols(),
      h('thead', {}, h('tr', {}, ['Server time', 'Device time', 'Kind', 'User', 'Device', 'Fields', 'Detail'].map((t) => h('th', {}, t))))),
    h('table', { id: 'job-history', class: 'data history-body', 'aria-label': 'History: server time, device time, kind, user, device, fields, detail' }, cols(),
      h('tbody', {}, history.map((a) => h('tr', { 'data-audit-id': a.id, class: `k-${a.kind}` },
        td(fmtDateTime(a.server_time)), td(a.device_time != null ? fmtDateTime(a.device_time) : null),
        td(h('span', { class: `badge kind k-${a.kind}` }, a.kind)), td(a.user || a.actor), td(a.device),
        td((a.fields || []).join(', '), 'fields'), td(a.detail))))),
    history.length ? null : h('p', { class: 'empty' }, 'No entries.'));
}

// ---------------------------------------------------------------- reminders

async function viewReminders() {
  // "Only mine": those addressed to me or to my role (my ring); otherwise everybody's.
  const list = await api('GET', `/v1/reminders${state.remindersMine ? '?mine=true' : ''}`);
  if (!state.remindersMine) setBadge(list.length);
  const mine = h('input', { type: 'checkbox', id: 'reminders-mine' });
  mine.checked = !!state.remindersMine;
  mine.addEventListener('change', () => { state.remindersMine = mine.checked; route(); });
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, 'Open reminders ', h('span', { class: 'count' }, String(list.length))),
    h('label', { class: 'filter-toggle', for: 'reminders-mine' }, mine, ' Only mine'),
    errorBox('reminders-error'),
    list.length ? h('ul', { class: 'card reminder-list' }, list.map((r) => reminderItem(r, 'reminders-error')))
      : h('p', { class: 'empty card' }, 'No open reminders.'));
}

function reminderItem(r, errorId) {
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

// ---------------------------------------------------------------- manuals

async function viewManuals({ params: [model, version] }) {
  const seq = state.seq;
  const selected = model !== undefined ? { model, version: Number(version) } : null;
  const [list, manual] = await Promise.all([
    api('GET', '/v1/manuals'),
    selected ? api('GET', `/v1/manuals/${enc(model)}/${selected.version}`).catch((err) => {
      if (err.status === 401) throw err;
      return err;
    }) : null,
  ]);
  state.manuals.selected = selected;
  const sorted = sortManuals(list);
  setManualList(sorted);
  // A newer page is on its way: leave the shared form where it is.
  if (seq !== state.seq) return h('div');
  let detail = null;
  if (manual instanceof Error) detail = h('section', { id: 'manual-detail', class: 'card' }, h('div', { class: 'error-box', role: 'alert' }, manual.message));
  else if (manual) detail = manualDetail(manual);
  return h('div', { class: 'page manuals' },
    h('h1', { class: 'page-title' }, 'Manuals'),
    h('div', { class: 'manuals-grid' },
      h('div', { class: 'col' },
        h('section', { class: 'card', 'aria-labelledby': 'manuals-h' },
          h('h2', { id: 'manuals-h' }, 'Published ', h('span', { id: 'manual-count', class: 'count' }, String(sorted.length))),
          h('div', { id: 'manual-list' }, manualTable(sorted, selected))),
        detail),
      h('div', { class: 'col manual-form-col' }, manualForm())));
}

/** Newest first, as the server sends them (a higher version first within the same millisecond). */
const sortManuals = (list) => [...list].sort((a, b) => (b.published_at - a.published_at) || (b.version - a.version));

/** Remembers each model's latest version (for the version the form proposes) and the models known. */
function setManualList(list) {
  const latest = new Map();
  for (const m of list) latest.set(m.model, Math.max(latest.get(m.model) || 0, m.version));
  state.manuals.latest = latest;
  if (state.manuals.onList) state.manuals.onList();
}

function manualTable(list, selected) {
  if (!list.length) return h('p', { class: 'empty' }, 'No manuals published yet.');
  return table(['Model', 'Version', 'Title', 'Published', 'By', 'Sections', 'Attachments'], list.map((m) => {
    const href = `#/manuals/${enc(m.model)}/${m.version}`;
    const on = selected && selected.model === m.model && selected.version === m.version;
    const row = h('tr', { class: ['manual-row', on && 'selected'], 'data-model': m.model, 'data-version': m.version, 'aria-current': on ? 'true' : null },
      h('th', { scope: 'row' }, h('a', { href }, m.model)), td(`v${m.version}`), td(m.title), td(fmtDateTime(m.published_at)),
      td(m.published_by), td(String(m.sections), 'num'), td(String(m.attachments), 'num'));
    row.addEventListener('click', (e) => { if (!e.target.closest('a')) location.hash = href; });
    return row;
  }), { id: 'manuals-table' });
}

/** One version: the sections as plain text (never as HTML) and links to the attachments. */
function manualDetail(m) {
  const sections = m.sections || [];
  const attachments = m.attachments || [];
  return h('section', { id: 'manual-detail', class: 'card manual-detail', 'data-model': m.model, 'data-version': m.version },
    h('div', { class: 'panel-head' },
      h('h2', {}, `${m.model} v${m.version} — ${m.title}`),
      h('a', { href: '#/manuals', class: 'btn ghost close', 'aria-label': 'Close manual' }, '×')),
    h('p', { class: 'muted' }, `Published ${fmtDateTime(m.published_at)} by ${m.published_by || '—'}`),
    h('h3', {}, `Sections (${sections.length})`),
    sections.length ? h('ol', { class: 'manual-sections' }, sections.map((sec) => h('li', { class: 'manual-section', 'data-section-id': sec.id },
      h('div', { class: 'manual-section-head' }, h('strong', {}, sec.title), ' ', h('code', { class: 'muted' }, sec.id)),
      h('div', { class: 'manual-body' }, sec.body))))
      : h('p', { class: 'empty' }, 'No sections.'),
    h('h3', {}, `Attachments (${attachments.length})`),
    attachments.length ? h('ul', { class: 'plain manual-attachments' }, attachments.map((a) => h('li', { 'data-sha256': a.sha256 },
      h('a', { href: blobUrl(a.sha256), target: '_blank', rel: 'noopener' }, a.name || a.sha256),
      h('span', { class: 'muted' }, ` ${a.mime} · ${fmtSize(a.size)}`))))
      : h('p', { class: 'empty' }, 'No attachments.'));
}

/** Field names in the server's errors → the form's inputs. */
const MANUAL_FIELDS = {
  model: 'model', version: 'version', title: 'title', sections: 'markdown', 'section id': 'markdown',
  attachments: 'files', 'attachment name': 'files', sha256: 'files', mime: 'files',
};

/** The upload form, built once per session (see state.manuals). Admins do not see it. */
function manualForm() {
  if (state.manuals.form) return state.manuals.form;
  const input = (id, attrs = {}) => h('input', { id, name: id, type: 'text', 'aria-describedby': `${id}-error`, ...attrs });
  const withError = (id, text, control, hint) => {
    const f = field(id, text, control, hint);
    f.append(h('span', { id: `${id}-error`, class: 'field-error', hidden: true }));
    return f;
  };
  const els = {
    model: input('manual-model', { list: 'manual-model-list', autocomplete: 'off', spellcheck: 'false' }),
    version: input('manual-version', { type: 'number', min: 1, step: 1, inputmode: 'numeric' }),
    title: input('manual-title'),
    markdown: h('textarea', { id: 'manual-markdown', name: 'manual-markdown', rows: 16, 'aria-describedby': 'manual-markdown-error' }),
    files: input('manual-files', { type: 'file', multiple: true, accept: 'image/*,application/pdf,.pdf' }),
    models: h('datalist', { id: 'manual-model-list' }),
    outline: h('p', { id: 'manual-outline', class: 'hint manual-outline' }),
    uploads: h('ul', { id: 'manual-uploads', class: 'upload-list', 'aria-label': 'Attachment uploads', hidden: true }),
    error: h('div', { id: 'manual-error', class: 'error-box', role: 'alert', hidden: true }),
    result: h('p', { id: 'manual-result', class: 'form-result', role: 'status', hidden: true }),
    submit: h('button', { id: 'manual-submit', type: 'submit', class: 'btn primary' }, 'Publish'),
    busy: false,
  };
  const form = h('form', { id: 'manual-form', class: 'card manual-form', novalidate: true, 'aria-labelledby': 'manual-form-h' },
    h('h2', { id: 'manual-form-h' }, 'Publish a manual'),
    els.error,
    h('div', { class: 'manual-fields' },
      withError('manual-model', 'Model', els.model), els.models,
      withError('manual-version', 'Version', els.version),
      withError('manual-title', 'Title', els.title)),
    withError('manual-markdown', 'Manual text (Markdown)', els.markdown,
      'A section starts at each line beginning with “# ” or “## ”; text before the first heading is the introduction.'),
    els.outline,
    withError('manual-files', 'Attachments', els.files, 'Images and PDFs, up to 64 MiB each.'),
    els.uploads,
    h('div', { class: 'form-actions' }, els.result, els.submit));
  form.addEventListener('submit', (e) => submitManual(e, els));
  form.addEventListener('input', (e) => markField(e.target, null));
  form.addEventListener('change', (e) => { if (e.target === els.files) markField(els.files, null); });
  // The version follows the model typed (latest + 1) until the user types a version.
  const propose = () => {
    const latest = state.manuals.latest.get(els.model.value.trim());
    if (els.version.value && !els.version.dataset.auto) return;
    if (latest) { els.version.value = String(latest + 1); els.version.dataset.auto = '1'; } else if (els.version.dataset.auto) { els.version.value = ''; delete els.version.dataset.auto; }
  };
  const outline = () => {
    const ids = splitSections(els.markdown.value, els.title.value.trim()).map((sec) => sec.id);
    els.outline.textContent = ids.length ? `${ids.length} section${ids.length === 1 ? '' : 's'}: ${ids.join(', ')}` : '';
  };
  els.model.addEventListener('input', propose);
  els.version.addEventListener('input', () => { delete els.version.dataset.auto; });
  els.markdown.addEventListener('input', outline);
  els.title.addEventListener('input', outline);
  state.manuals.onList = () => {
    els.models.replaceChildren(...[...state.manuals.latest.keys()].sort().map((m) => h('option', { value: m })));
    propose();
  };
  state.manuals.onList();
  state.manuals.form = form;
  return form;
}

/** Marks an input invalid with a message beside it, or (message null) clears it. */
function markField(input, message) {
  const holder = input && input.closest('.field');
  const note = holder && holder.querySelector('.field-error');
  if (!note) return;
  input.classList.toggle('invalid', !!message);
  if (message) input.setAttribute('aria-invalid', 'true'); else input.removeAttribute('aria-invalid');
  note.textContent = message || '';
  note.hidden = !message;
}

function clearManualErrors(els) {
  for (const key of ['model', 'version', 'title', 'markdown', 'files']) markField(els[key], null);
  els.error.textContent = '';
  els.error.hidden = true;
}

/** Shows a server (or local) error beside its field, else above the form. */
function showManualError(els, err) {
  let key = null;
  if (err.code === 'stale_version') key = 'version';
  else if (err.code !== 'missing_blob' && err.field) key = MANUAL_FIELDS[String(err.field).split(/[.[]/)[0]] || null;
  if (key) {
    markField(els[key], err.message);
    els[key].focus();
  } else {
    els.error.textContent = err.message;
    els.error.hidden = false;
  }
}

async function submitManual(e, els) {
  e.preventDefault();
  if (els.busy) return;
  clearManualErrors(els);
  els.result.hidden = true;
  const model = els.model.value.trim();
  const title = els.title.value.trim();
  const version = Number(els.version.value);
  const files = [...els.files.files];
  const sections = splitSections(els.markdown.value, title);
  // What can be told before anything is uploaded.
  const problems = [];
  if (!model) problems.push(['model', 'Enter the product model.']);
  if (!els.version.value || !Number.isInteger(version) || version < 1) problems.push(['version', 'The version is a whole number, 1 or more.']);
  if (!title) problems.push(['title', 'Enter the manual’s title.']);
  if (files.length && !(window.crypto && crypto.subtle)) {
    problems.push(['files', 'Uploading attachments needs HTTPS: this browser computes file checksums only on secure pages. Open the console over https:// (or on localhost).']);
  } else {
    const big = files.find((f) => f.size > MAX_BLOB);
    const odd = files.find((f) => !/^image\//.test(fileMime(f)) && fileMime(f) !== 'application/pdf');
    if (big) problems.push(['files', `${big.name} is ${fmtSize(big.size)}; attachments may be at most 64 MiB.`]);
    else if (odd) problems.push(['files', `${odd.name} is neither an image nor a PDF.`]);
  }
  if (problems.length) {
    for (const [key, text] of problems) markField(els[key], text);
    els[problems[0][0]].focus();
    return;
  }
  els.busy = true;
  els.submit.disabled = true;
  const rows = files.map(uploadRow);
  els.uploads.replaceChildren(...rows.map((r) => r.li));
  els.uploads.hidden = !rows.length;
  try {
    const attachments = [];
    for (let i = 0; i < files.length; i++) {
      const sha256 = await uploadFile(files[i], rows[i]);
      attachments.push({ sha256, name: files[i].name, mime: fileMime(files[i]) });
    }
    els.submit.textContent = 'Publishing…';
    const m = await api('POST', '/v1/manuals', { model, version, title, sections, attachments });
    const n = (m.changed_sections || []).length;
    els.result.textContent = `Published ${m.model ?? model} v${m.version ?? version}: ${n} section${n === 1 ? '' : 's'} changed`;
    els.result.hidden = false;
    // Ready for the next version of the same model.
    for (const el of [els.title, els.markdown, els.files, els.version]) { el.value = ''; delete el.dataset.dirty; }
    delete els.version.dataset.auto;
    els.outline.textContent = '';
    await refreshManualList();
  } catch (err) {
    if (err.status !== 401) showManualError(els, err);
  } finally {
    els.busy = false;
    els.submit.disabled = false;
    els.submit.textContent = 'Publish';
  }
}

/** Reloads the list in place (the form and any open manual stay as they are). */
async function refreshManualList() {
  let list;
  try { list = sortManuals(await api('GET', '/v1/manuals')); } catch (err) { return; }
  setManualList(list);
  if ($('manual-list')) $('manual-list').replaceChildren(manualTable(list, state.manuals.selected));
  if ($('manual-count')) $('manual-count').textContent = String(list.length);
}

/** Splits Markdown into sections at lines starting with "# " or "## " (not inside fenced code).
 *  Text before the first heading is the section `intro`, titled with the manual's title.
 *  Ids are slugs of the headings, made unique with -2, -3…; sections without text are dropped. */
function splitSections(markdown, title) {
  const parts = [];
  let current = { id: 'intro', title, lines: [] };
  let fence = null;
  for (const line of String(markdown || '').replace(/\r\n?/g, '\n').split('\n')) {
    const heading = fence ? null : line.match(/^##? (.*)$/);
    if (heading) {
      parts.push(current);
      current = { id: null, title: heading[1].replace(/\s+#+\s*$/, '').trim(), lines: [] };
      continue;
    }
    const mark = line.match(/^ {0,3}(`{3,}|~{3,})/);
    if (mark && !fence) fence = mark[1];
    else if (mark && mark[1][0] === fence[0] && mark[1].length >= fence.length) fence = null;
    current.lines.push(line);
  }
  parts.push(current);
  const used = new Set();
  const sections = [];
  for (const p of parts) {
    const body = p.lines.join('\n').replace(/^(?:[ \t]*\n)+/, '').replace(/\s+$/, '');
    if (!body) continue;
    const base = p.id || slug(p.title) || 'section';
    let id = base;
    for (let n = 2; used.has(id); n++) id = `${base}-${n}`;
    used.add(id);
    sections.push({ id, title: p.title, body });
  }
  return sections;
}

const slug = (text) => String(text).toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '');

// ---------------------------------------------------------------- blob uploads

const MIME_BY_EXT = {
  pdf: 'application/pdf', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif',
  webp: 'image/webp', svg: 'image/svg+xml', bmp: 'image/bmp', tif: 'image/tiff', tiff: 'image/tiff',
  heic: 'image/heic', avif: 'image/avif',
};
const fileMime = (file) => file.type || MIME_BY_EXT[(file.name.split('.').pop() || '').toLowerCase()] || 'application/octet-stream';

const fileHashes = new WeakMap(); // File -> hex SHA-256, so a second attempt does not hash again

async function sha256Hex(file) {
  if (!fileHashes.has(file)) {
    const digest = await crypto.subtle.digest('SHA-256', await file.arrayBuffer());
    fileHashes.set(file, [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join(''));
  }
  return fileHashes.get(file);
}

const sleep = (ms) => new Promise((resolve) => { setTimeout(resolve, ms); });

/** One file's line in the upload list: name, size, progress bar and state. */
function uploadRow(file) {
  const bar = h('progress', { max: Math.max(file.size, 1), value: 0 });
  const text = h('span', { class: 'upload-state' }, 'waiting');
  const li = h('li', { class: 'upload-item', 'data-name': file.name },
    h('span', { class: 'upload-name', title: file.name }, file.name), h('span', { class: 'muted upload-size' }, fmtSize(file.size)), bar, text);
  return {
    li,
    say(message, cls) {
      text.textContent = message;
      li.classList.remove('is-done', 'is-failed', 'is-busy');
      if (cls) li.classList.add(cls);
    },
    progress(received) {
      bar.value = received;
      this.say(`uploading ${file.size ? Math.floor((received / file.size) * 100) : 0}%`, 'is-busy');
    },
    done(message) {
      bar.value = Math.max(file.size, 1);
      this.say(message, 'is-done');
    },
  };
}

/** Uploads a file as a blob unless the server holds it already: asks how much arrived, then
 *  sends the rest in parts with Content-Range. A cut connection resumes where the server
 *  stopped. Resolves to the blob's SHA-256. */
async function uploadFile(file, row) {
  try {
    row.say('computing checksum…', 'is-busy');
    const sha256 = await sha256Hex(file);
    const url = blobUrl(sha256);
    const mime = fileMime(file);
    let status = null;
    let sent = false;
    let failures = 0;
    for (;;) {
      try {
        if (!status) status = await api('GET', `${url}/upload`);
        if (status.complete) break;
        const start = status.received || 0;
        const end = Math.min(start + UPLOAD_PART, file.size);
        row.progress(start);
        const headers = { 'content-type': mime };
        if (file.size > 0) headers['content-range'] = `bytes ${start}-${end - 1}/${file.size}`;
        status = await apiBytes('PUT', url, file.slice(start, end), headers);
        sent = true;
        failures = 0;
      } catch (err) {
        if (err.status === 401) throw err;
        const again = err.status === 0 || err.status === 408 || err.status >= 500
          || err.code === 'chunk_out_of_order' || err.code === 'upload_in_progress';
        if (!again || ++failures > UPLOAD_RETRIES) throw err;
        row.say('connection interrupted, resuming…', 'is-busy');
        await sleep(1000 * failures);
        // Continue from what the server says it holds.
        status = err.code === 'chunk_out_of_order' && err.body && Number.isInteger(err.body.received)
          ? { received: err.body.received, complete: false } : null;
      }
    }
    row.done(sent ? 'uploaded' : 'already on the server');
    return sha256;
  } catch (err) {
    row.say(`failed: ${err.message}`, 'is-failed');
    err.message = `${file.name}: ${err.message}`;
    throw err;
  }
}

// ---------------------------------------------------------------- dashboard

async function viewDashboard() {
  const f = state.kpi;
  const qs = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
  const d = await api('GET', `/v1/kpis?${qs}`);
  const t = d.total;
  const cats = d.buckets.map((b) => b.period);
  const m = d.buckets.map((b) => b.metrics);
  const rows = (list) => list.map((r) => ({ label: r.key || '—', value: r.jobs, text: String(r.jobs), tip: `${r.key}: ${r.jobs} jobs` }));
  const maxOf = (list) => Math.max(1, ...list.map((r) => r.jobs));
  const durations = [['first_response', 'First response'], ['time_to_dispatch', 'Time to dispatch'],
    ['time_to_resolve', 'Time to resolve'], ['appointment_wait', 'Appointment wait']];
  return h('div', { class: 'page dashboard' },
    h('h1', { class: 'page-title' }, 'Dashboard'),
    kpiFilters(d.options || {}),
    h('p', { class: 'muted range' }, `${fmtUtcDay(d.from)} – ${fmtUtcDay(d.to - 1)} · by ${d.period}`),
    h('div', { class: 'tiles' },
      ratioTile('kpi-first-time-fix', 'First-time fix', t.first_time_fix),
      ratioTile('kpi-install-success', 'Installation success', t.installation_success),
      tile('kpi-satisfaction', 'Satisfied (4–5)', pct(t.satisfaction.rate),
        `mean ${t.mean_rating == null ? '—' : t.mean_rating.toFixed(1)} / 5 · ${t.satisfaction.of} rated`),
      ratioTile('kpi-complaint-rate', 'Complaint rate', t.complaint_rate),
      tile('kpi-jobs', 'Jobs', String(t.jobs), `${d.buckets.length} ${d.period}${d.buckets.length === 1 ? '' : 's'}`),
      tile('kpi-time-to-resolve', 'Time to resolve (median)', fmtDuration(t.time_to_resolve.median_ms),
        `p90 ${fmtDuration(t.time_to_resolve.p90_ms)} · n=${t.time_to_resolve.n}`)),
    h('div', { class: 'charts' },
      figure('chart-rates', 'First-time fix, installation success and satisfaction', cats.length
        ? lineChart('Rates per period', cats, [
          { name: 'First-time fix', cls: 'c1', ratios: m.map((x) => x.first_time_fix) },
          { name: 'Installation success', cls: 'c2', ratios: m.map((x) => x.installation_success) },
          { name: 'Satisfaction (4–5)', cls: 'c3', ratios: m.map((x) => x.satisfaction) }], niceScale(1, [0.25]))
        : null, [['First-time fix', 'c1'], ['Installation success', 'c2'], ['Satisfaction (4–5)', 'c3']]),
      figure('chart-demand', `Demand: jobs per ${d.period}`, cats.length ? barChart('Jobs per period', cats, m.map((x) => x.jobs)) : null),
      figure('chart-durations', 'Response and resolution times over the range (median and p90)',
        groupedBars('Durations', durations.map(([k, name]) => ({ name, n: t[k].n, values: [t[k].median_ms, t[k].p90_ms] })),
          [{ name: 'Median', cls: 'c1' }, { name: 'p90', cls: 'c4' }]), [['Median', 'c1'], ['p90', 'c4']]),
      figure('chart-sla', 'SLA compliance per clock', hBars('SLA compliance', CLOCKS.map((c) => {
        const r = t.sla[c] || { hits: 0, of: 0, rate: null };
        return { label: label(c), value: r.rate, cls: r.rate != null && r.rate < 0.8 ? 'bad' : 'c2',
          text: r.rate == null ? '—' : `${pct(r.rate)} (${r.hits}/${r.of})`, tip: `${label(c)}: ${r.hits} of ${r.of} met` };
      }), 1)),
      figure('chart-category', 'Demand by category', d.by_category.length ? hBars('By category', rows(d.by_category), maxOf(d.by_category)) : null),
      figure('chart-region', 'Demand by region', d.by_region.length ? hBars('By region', rows(d.by_region), maxOf(d.by_region)) : null),
      figure('chart-complaints', 'Complaint rate', cats.length
        ? lineChart('Complaint rate per period', cats, [{ name: 'Complaint rate', cls: 'bad', ratios: m.map((x) => x.complaint_rate) }],
          niceScale(Math.max(0.05, ...m.map((x) => x.complaint_rate.rate || 0))))
        : null)),
    engineersTable(d));
}

function kpiFilters(options) {
  const f = state.kpi;
  const onChange = (key) => (e) => { f[key] = e.target.value; rerender(); };
  // A chosen value stays selectable even if the options for the new range no longer list it.
  const withAll = (allText, list, key) => {
    const opts = [['', allText], ...list];
    if (f[key] && !list.some((o) => o[0] === f[key])) opts.push([f[key], f[key]]);
    return select(`kpi-${key}`, opts, f[key], { onchange: onChange(key) });
  };
  const pair = (x) => [x, x];
  return h('form', { class: 'card filters', onsubmit: (e) => e.preventDefault() },
    field('kpi-period', 'Period', select('kpi-period', [['day', 'Day'], ['week', 'Week'], ['month', 'Month']], f.period, { onchange: onChange('period') })),
    field('kpi-from', 'From', h('input', { id: 'kpi-from', type: 'date', value: f.from, onchange: onChange('from') })),
    field('kpi-to', 'To', h('input', { id: 'kpi-to', type: 'date', value: f.to, onchange: onChange('to') })),
    field('kpi-region', 'Region', withAll('All regions', (options.regions || []).map(pair), 'region')),
    field('kpi-category', 'Category', withAll('All categories', (options.categories || []).map(pair), 'category')),
    field('kpi-kind', 'Kind', withAll('All kinds', KINDS.map((k) => [k, label(k)]), 'kind')),
    field('kpi-engineer', 'Engineer', withAll('All engineers', (options.engineers || []).map((e) => [e.user, e.name || e.user]), 'engineer')));
}

function tile(id, title, value, sub) {
  return h('div', { id, class: 'card tile' }, h('div', { class: 'tile-title' }, title),
    h('div', { class: 'value' }, value), h('div', { class: 'tile-sub muted' }, sub || ''));
}
const ratioTile = (id, title, r) => tile(id, title, pct(r.rate), `${r.hits} of ${r.of}`);

function engineersTable(d) {
  return h('section', { class: 'card' }, h('h2', {}, 'Engineers'),
    table(['Engineer', 'Jobs done', 'First-time fix', 'Satisfaction', 'Mean rating'], d.engineers.map((e) => {
      const star = e.user === d.service_star;
      return h('tr', { 'data-engineer': e.user, class: star && 'star' },
        h('th', { scope: 'row' }, star ? h('span', { class: 'star-mark', title: 'Service star' }, '★ ') : null, e.name || e.user),
        td(String(e.jobs_done), 'num'), td(pct(e.first_time_fix.rate), 'num'), td(pct(e.satisfaction.rate), 'num'),
        td(e.mean_rating == null ? '—' : e.mean_rating.toFixed(1), 'num'));
    }), { id: 'kpi-engineers' }));
}

// ---------------------------------------------------------------- charts (SVG)

function figure(id, caption, chart, legendItems) {
  return h('figure', { id, class: 'card chart-fig' }, h('figcaption', {}, caption),
    chart || h('p', { class: 'empty' }, 'No data for this selection.'),
    chart && legendItems ? h('ul', { class: 'legend' }, legendItems.map(([name, cls]) => h('li', {}, h('span', { class: `swatch ${cls}` }), name))) : null);
}

/** Round axis maximum and ticks; `steps` offers preferred step sizes (e.g. durations). */
function niceScale(max, steps) {
  const top0 = max > 0 ? max : 1;
  const raw = top0 / 4;
  let step = steps && steps.find((st) => st >= raw);
  if (!step) {
    const e = 10 ** Math.floor(Math.log10(raw));
    step = [1, 2, 5, 10].map((k) => k * e).find((st) => st >= raw);
  }
  const n = Math.max(1, Math.ceil(top0 / step - 1e-9));
  const ticks = Array.from({ length: n + 1 }, (_, i) => i * step);
  return { top: ticks[n], ticks };
}

function frame(title, height = 220) {
  const w = 560;
  return {
    svg: s('svg', { viewBox: `0 0 ${w} ${height}`, class: 'chart', role: 'img', 'aria-label': title }),
    p: { l: 52, r: w - 10, t: 20, b: height - 24 },
  };
}

function drawYAxis({ svg, p }, scale, fmt) {
  const y = (v) => p.b - (v / scale.top) * (p.b - p.t);
  for (const t of scale.ticks) {
    svg.append(s('line', { class: 'grid', x1: p.l, x2: p.r, y1: y(t), y2: y(t) }),
      s('text', { class: 'tick', x: p.l - 6, y: y(t) + 4, 'text-anchor': 'end' }, t === 0 ? '0' : fmt(t)));
  }
  svg.append(s('line', { class: 'axis', x1: p.l, x2: p.l, y1: p.t, y2: p.b }),
    s('line', { class: 'axis', x1: p.l, x2: p.r, y1: p.b, y2: p.b }));
  return y;
}

/** Category x axis; thins labels out so at most ~10 show. */
function drawXBands({ svg, p }, cats) {
  const step = (p.r - p.l) / Math.max(cats.length, 1);
  const x = (i) => p.l + step * (i + 0.5);
  const every = Math.ceil(cats.length / 10);
  cats.forEach((c, i) => {
    if (i % every === 0) svg.append(s('text', { class: 'tick', x: x(i), y: p.b + 16, 'text-anchor': 'middle' }, c));
  });
  return { x, step };
}

function lineChart(title, cats, series, scale) {
  const f = frame(title);
  const y = drawYAxis(f, scale, pctTick);
  const { x } = drawXBands(f, cats);
  for (const se of series) {
    let d = '';
    let down = false; // null rates break the line instead of dropping to zero
    se.ratios.forEach((r, i) => {
      if (!r || r.rate == null) { down = false; return; }
      d += `${down ? 'L' : 'M'}${x(i).toFixed(1)},${y(r.rate).toFixed(1)}`;
      down = true;
    });
    if (d) f.svg.append(s('path', { class: `line ${se.cls}`, d }));
    se.ratios.forEach((r, i) => {
      if (!r || r.rate == null) return;
      f.svg.append(s('circle', { class: `dot ${se.cls}`, cx: x(i), cy: y(r.rate), r: 3.5 },
        s('title', {}, `${cats[i]} — ${se.name}: ${pct(r.rate)} (${r.hits} of ${r.of})`)));
    });
  }
  return f.svg;
}

function barChart(title, cats, values) {
  const f = frame(title);
  const scale = niceScale(Math.max(0, ...values), [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000]);
  const y = drawYAxis(f, scale, String);
  const { x, step } = drawXBands(f, cats);
  const bw = Math.max(2, Math.min(40, step * 0.7));
  values.forEach((v, i) => {
    f.svg.append(s('rect', { class: 'bar c1', x: x(i) - bw / 2, y: y(v), width: bw, height: f.p.b - y(v) },
      s('title', {}, `${cats[i]}: ${v} job${v === 1 ? '' : 's'}`)));
    if (cats.length <= 16 && v > 0) f.svg.append(s('text', { class: 'bar-label', x: x(i), y: y(v) - 4, 'text-anchor': 'middle' }, String(v)));
  });
  return f.svg;
}

/** Groups of bars sharing one linear duration axis, each bar labelled with its value. */
function groupedBars(title, groups, series) {
  const f = frame(title);
  const all = groups.flatMap((g) => g.values.filter((v) => v != null));
  const y = drawYAxis(f, niceScale(Math.max(0, ...all), DURATION_STEPS), fmtDuration);
  const { x, step } = drawXBands(f, groups.map((g) => g.name));
  const bw = Math.min(44, (step * 0.8) / series.length);
  groups.forEach((g, i) => g.values.forEach((v, k) => {
    const bx = x(i) - (bw * series.length) / 2 + k * bw;
    if (v == null) {
      f.svg.append(s('text', { class: 'bar-label', x: bx + bw / 2, y: f.p.b - 4, 'text-anchor': 'middle' }, '—'));
      return;
    }
    const top = Math.min(y(v), f.p.b - 2); // the shortest bar still shows
    f.svg.append(s('rect', { class: `bar ${series[k].cls}`, x: bx + 1, y: top, width: bw - 2, height: f.p.b - top },
      s('title', {}, `${g.name} — ${series[k].name}: ${fmtDuration(v)} (n=${g.n})`)),
    s('text', { class: 'bar-label', x: bx + bw / 2, y: top - 4, 'text-anchor': 'middle' }, fmtDuration(v)));
  }));
  return f.svg;
}

/** Horizontal bars: label, bar against a track, value text. */
function hBars(title, rows, max) {
  const w = 560;
  const rowH = 24;
  const lab = 140;
  const span = w - lab - 120;
  const svg = s('svg', { viewBox: `0 0 ${w} ${rows.length * rowH + 8}`, class: 'chart', role: 'img', 'aria-label': title });
  rows.forEach((r, i) => {
    const y0 = 4 + i * rowH;
    const text = r.label.length > 20 ? `${r.label.slice(0, 19)}…` : r.label;
    svg.append(
      s('text', { class: 'tick', x: lab - 8, y: y0 + 15, 'text-anchor': 'end' }, s('title', {}, r.label), text),
      s('rect', { class: 'track', x: lab, y: y0 + 3, width: span, height: rowH - 8 }),
      s('rect', { class: `bar ${r.cls || 'c1'}`, x: lab, y: y0 + 3, width: r.value ? (r.value / max) * span : 0, height: rowH - 8 },
        s('title', {}, r.tip)),
      s('text', { class: 'bar-label', x: lab + span + 6, y: y0 + 15 }, r.text));
  });
  return svg;
}

// ---------------------------------------------------------------- start

async function boot() {
  window.addEventListener('hashchange', () => route());
  // Relative deadlines ("due in 4 min") stay current between refreshes.
  setInterval(() => document.querySelectorAll('.due[data-due]').forEach(updateDue), 30e3);
  try {
    const me = await api('GET', '/v1/me');
    state.csrf = me.csrf;
    state.me = me;
    startApp();
  } catch (err) {
    if (err.status !== 401) showLogin(err.message);
  }
}

boot();
