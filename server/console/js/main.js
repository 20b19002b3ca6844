// Fieldsync console: queues, intake, day board, job detail, KPIs, reminders and product
// manuals over the office JSON API (/v1/...). Plain DOM, hash routing, live updates from the
// server's event stream. Native ES modules, no build step; this is the entry point (loaded by
// index.html): start-up, sign-in and the page shell, routing between the views, and the live
// event stream.

import { state } from './state.js';
import { rerender, setHooks } from './hooks.js';
import { $, enc, h, field, label, updateDue, useTimeZone } from './dom.js';
import { api } from './api.js';
import {
  LANGUAGES, adoptSignInChoice, clockLabel, errorText, language, preferredLanguage, rememberLanguage, reminderText, t, useLanguage,
} from './i18n.js';
import { refreshBadge } from './widgets.js';
import { viewQueues } from './queues.js';
import { viewIntake } from './intake.js';
import { viewBoard } from './board.js';
import { viewJob } from './job.js';
import { viewJobs } from './jobs.js';
import { viewCustomers, viewCustomer } from './customers.js';
import { viewReminders } from './reminders.js';
import { viewManuals } from './manuals.js';
import { viewDashboard } from './kpis.js';
import { viewFleet, viewDevice } from './fleet.js';
import { viewPeople } from './people.js';
import { viewWeek } from './week.js';
import { viewMap } from './map.js';
import { loadLists, setControlValue, viewLists } from './lists.js';

// ---------------------------------------------------------------- sign-in and shell

function showLogin(message) {
  stopEvents();
  state.csrf = null;
  state.me = null;
  state.seq++;
  // Built again when the language changed since (a sign-out switches to the sign-in page's).
  if (!$('login-form') || $('login-form').lang !== language()) {
    $('app').replaceChildren(h('div', { class: 'login-wrap' },
      h('form', { id: 'login-form', class: 'card login', lang: language(), novalidate: true, onsubmit: submitLogin },
        h('h1', { class: 'brand-big' }, 'Fieldsync'),
        h('p', { class: 'muted' }, t('login.subtitle')),
        field('login-user', t('login.user'), h('input', { id: 'login-user', name: 'user', autocomplete: 'username', autocapitalize: 'none', spellcheck: 'false' })),
        field('login-password', t('login.password'), h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password' })),
        h('div', { id: 'login-error', class: 'error-box', role: 'alert', hidden: true }),
        h('button', { type: 'submit', class: 'btn primary' }, t('login.submit')),
        languageSwitch('login-language'))));
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
    await startApp();
  } catch (err) {
    errEl.textContent = errorText(err);
    errEl.hidden = false;
    button.disabled = false;
  }
}

async function logout() {
  try { await api('POST', '/v1/auth/logout'); } catch (e) { /* signed out either way */ }
  history.replaceState(null, '', location.pathname + location.search); // the next user starts on the queues
  state.errors = {};
  // The next person at this desk gets the sign-in page's language, not this user's.
  if (preferredLanguage() !== language()) await useLanguage(preferredLanguage());
  showLogin();
}

async function startApp() {
  // Sign-in answers who; the organisation's clock comes with /v1/me.
  if (state.me.time_zone === undefined) {
    try { Object.assign(state.me, await api('GET', '/v1/me')); } catch (e) { /* the browser's clock, then */ }
  }
  useTimeZone(state.me.time_zone);
  // The user's own choice on this browser wins over the one the sign-in page was shown in,
  // unless they made that one just now.
  adoptSignInChoice(state.me.user);
  const wanted = preferredLanguage(state.me.user);
  if (wanted !== language()) await useLanguage(wanted);
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

/** The language menu: the choice sticks for this user on this browser; the page reloads so
 *  that every view, form and cached text is built again in the new language. */
function languageSwitch(id) {
  return h('label', { class: 'language' }, h('span', { class: 'sr-only' }, t('shell.language')),
    h('select', {
      id,
      'aria-label': t('shell.language'),
      value: language(),
      onchange: (e) => {
        // The page is built again: say so when that loses typed text or a running upload.
        const busy = document.querySelector('#view [data-dirty], #manual-submit[disabled]');
        if (busy && !window.confirm(t('shell.language_reload'))) { e.target.value = language(); return; }
        rememberLanguage(e.target.value, state.me && state.me.user);
        location.reload();
      },
    }, LANGUAGES.map(([tag, name]) => h('option', { value: tag, lang: tag }, name))));
}

function renderShell() {
  const link = (href, text) => h('a', { href }, text);
  $('app').replaceChildren(
    h('header', { class: 'topbar' },
      h('a', { class: 'brand', href: '#/queues' }, 'Fieldsync'),
      h('nav', { id: 'nav', 'aria-label': t('nav.label') },
        link('#/queues', t('nav.queues')), link('#/jobs', t('nav.jobs')), link('#/customers', t('nav.customers')), link('#/intake', t('nav.intake')), link('#/board', t('nav.board')), link('#/map', t('nav.map')),
        link('#/dashboard', t('nav.dashboard')), link('#/manuals', t('nav.manuals')), link('#/fleet', t('nav.fleet')), link('#/people', t('nav.people')), link('#/lists', t('nav.lists'))),
      h('div', { class: 'topbar-right' },
        h('a', { href: '#/reminders', class: 'reminders-link', title: t('shell.reminders_title') },
          t('shell.reminders'), ' ', h('span', { id: 'reminder-count', class: 'count-badge', 'aria-label': t('shell.reminders_count') }, '0')),
        h('span', { id: 'whoami', title: state.me.name || '' }, t('shell.whoami', { user: state.me.user, role: label(state.me.role) })),
        languageSwitch('language'),
        h('button', { id: 'logout', type: 'button', class: 'btn ghost', onclick: logout }, t('shell.sign_out')))),
    h('main', { id: 'view' }),
    h('div', { id: 'toasts', role: 'status', 'aria-live': 'polite' }));
  // Inputs the user has typed in keep their value across live re-renders (see route()).
  $('view').addEventListener('input', (e) => { if (e.target.id) e.target.dataset.dirty = '1'; });
}

function toast(text, href) {
  const box = $('toasts');
  if (!box) return;
  const note = h('div', { class: 'toast' }, href ? h('a', { href }, text) : text,
    h('button', { type: 'button', class: 'toast-close', 'aria-label': t('shell.dismiss'), onclick: () => note.remove() }, '×'));
  box.append(note);
  setTimeout(() => note.remove(), 8000);
}

// ---------------------------------------------------------------- routing

const ROUTES = [
  [/^\/queues$/, viewQueues], [/^\/intake$/, viewIntake], [/^\/board$/, viewBoard],
  [/^\/dashboard$/, viewDashboard], [/^\/reminders$/, viewReminders], [/^\/jobs$/, viewJobs], [/^\/jobs\/([^/]+)$/, viewJob],
  [/^\/customers$/, viewCustomers], [/^\/customers\/([^/]+)$/, viewCustomer],
  [/^\/manuals$/, viewManuals], [/^\/manuals\/([^/]+)\/(\d+)$/, viewManuals],
  [/^\/fleet$/, viewFleet], [/^\/people$/, viewPeople], [/^\/week$/, viewWeek], [/^\/map$/, viewMap], [/^\/devices\/([^/]+)$/, viewDevice],
  [/^\/lists$/, viewLists],
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
    // An enrollment code is shown once: leaving its page (or opening it again) forgets it.
    state.invitation = null;
    state.scheduleFor = null;
    // Another day on the board or another job: keep the page until the new one is ready.
    if (path.split('/')[1] !== state.lastPath) {
      view.replaceChildren(h('p', { class: 'loading' }, t('common.loading')));
      window.scrollTo(0, 0);
    }
    state.lastPath = path.split('/')[1];
  }
  try {
    // Regions and categories read by their names on every page, and forms offer the lists.
    await loadLists();
    const node = await fn({ params: match.slice(1).map(decodeURIComponent), query });
    if (seq !== state.seq) return;
    // Typed-in values carry over only onto a fresh copy of the same page.
    const keep = refresh && view.dataset.hash === location.hash ? snapshotInputs(view) : null;
    view.replaceChildren(node);
    view.dataset.hash = location.hash;
    if (keep) restoreInputs(keep);
    // A new page: focus goes to its title (after a view that focuses its own field has done
    // so), so the next Tab starts in the page, not back at the top bar.
    if (!refresh) setTimeout(() => focusTitle(view));
  } catch (err) {
    if (seq !== state.seq || err.status === 401) return;
    view.replaceChildren(h('div', { class: 'error-box', role: 'alert' }, errorText(err), ' ',
      h('button', { type: 'button', class: 'btn', onclick: () => route() }, t('common.retry'))));
  }
}

function focusTitle(view) {
  const active = document.activeElement;
  if (active && active !== document.body && view.contains(active)) return;
  const title = view.querySelector('h1');
  if (!title) return;
  title.tabIndex = -1;
  title.focus({ preventScroll: true });
}

function snapshotInputs(root) {
  const values = {};
  root.querySelectorAll('[data-dirty]').forEach((el) => { if (el.id) values[el.id] = el.value; });
  const active = document.activeElement;
  return { values, focus: active && root.contains(active) ? active.id : null };
}
function restoreInputs({ values, focus }) {
  for (const [id, value] of Object.entries(values)) {
    const el = $(id);
    if (!el) continue;
    const changed = el.value !== value;
    setControlValue(el, value);
    el.dataset.dirty = '1';
    // Typed while the fresh copy was being built: a page that acts on typing (a search) is told.
    if (changed) el.dispatchEvent(new Event('restored'));
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
      toast(t('shell.reminder_toast', { ring: r.ring, clock: clockLabel(r.clock), message: reminderText(r) }), `#/jobs/${enc(r.job_id)}`);
    } catch (err) { toast(t('shell.new_reminder'), '#/reminders'); }
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
  state.refreshTimer = null;
}

// At most one refresh per REFRESH_MS however busy the fleet: a refresh already pending covers
// every event until it runs (a debounce would starve while events keep coming).
const REFRESH_MS = 250;

function scheduleRefresh() {
  if (state.refreshTimer) return;
  state.refreshTimer = setTimeout(() => {
    state.refreshTimer = null;
    if (state.drag) { scheduleRefresh(); return; } // do not pull the board from under a drag
    refreshBadge();
    rerender();
  }, REFRESH_MS);
}

// ---------------------------------------------------------------- start

async function boot() {
  try {
    await useLanguage(preferredLanguage());
  } catch (err) {
    $('app').replaceChildren(h('div', { class: 'error-box', role: 'alert' },
      'The console cannot load its texts. Reload the page. 调度台无法加载文字，请刷新页面。'));
    return;
  }
  window.addEventListener('hashchange', () => route());
  // Relative deadlines ("due in 4 min") stay current between refreshes.
  setInterval(() => document.querySelectorAll('.due[data-due]').forEach(updateDue), 30e3);
  try {
    const me = await api('GET', '/v1/me');
    state.csrf = me.csrf;
    state.me = me;
    await startApp();
  } catch (err) {
    if (err.status !== 401) showLogin(errorText(err));
  }
}

// Shared modules and views reach route() and showLogin() through hooks.js.
setHooks({ route, showLogin });

boot();
