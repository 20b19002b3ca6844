// Fieldsync console: the organisation's lists of regions and problem categories (#/lists).
// Jobs carry an entry's code; every page shows it by its name in the reader's language, and
// every form that takes a region or a category offers the entries not retired. A list with no
// entries is not kept yet and takes any text. Admins add, rename, retire and delete entries
// here; everyone in the office reads them.

import { state } from './state.js';
import { enc, h, field, table, td } from './dom.js';
import { api } from './api.js';
import { act, errorBox, forgetProblems, keepProblems, restoreProblems } from './actions.js';
import { rerender } from './hooks.js';
import { language, t } from './i18n.js';

/** The lists by the name a job's field gives them, with their API paths and texts. */
const LISTS = [
  { list: 'region', path: 'regions', title: 'lists.regions', add: 'lists.add_region' },
  { list: 'category', path: 'categories', title: 'lists.categories', add: 'lists.add_category' },
];

/** Reads both lists again (before every page is drawn, so that names and choices are
 *  current). */
export async function loadLists() {
  state.lists = await api('GET', '/v1/lists');
}

// Any other name (a KPI filter's `engineer`) has no entries: its values are shown as they are.
const entriesOf = (list) => {
  const known = LISTS.find((l) => l.list === list);
  return (known && state.lists && state.lists[known.path]) || [];
};
const nameOf = (entry) => (language() === 'zh-CN' ? entry.name_zh : entry.name_en);

/** The name of `code` of `list` (`region`, `category`) in the reader's language; the code
 *  itself when the list does not have it. */
export function listName(list, code) {
  const entry = code ? entriesOf(list).find((e) => e.code === code) : null;
  return entry ? nameOf(entry) : code;
}

/** A region's name (`listName('region', code)`). */
export const regionName = (code) => listName('region', code);
/** A problem category's name. */
export const categoryName = (code) => listName('category', code);

/** Whether the organisation keeps `list` (it has entries): values are then chosen from it. */
export const isKept = (list) => entriesOf(list).length > 0;

/** An option for `code` of `list` that is not offered (retired or not listed), so that a form
 *  showing a value it carries never drops it; `carried` when the control was made with it (the
 *  job's or engineer's own value, kept whatever is chosen meanwhile). */
const notOffered = (list, code, carried) => h('option', { value: code, 'data-not-offered': carried ? 'carried' : 'set' },
  t('lists.not_offered', { name: listName(list, code) }));

/** A control for a value of `list`: while the list is kept, a choice of its entries not
 *  retired, by name (and `current` when it is not one of them); else a text field with
 *  `textAttrs`. */
export function listControl(id, list, current = '', textAttrs = {}) {
  if (!isKept(list)) return h('input', { id, name: id, type: 'text', value: current, ...textAttrs });
  const options = entriesOf(list).filter((e) => !e.retired).map((e) => [e.code, nameOf(e)]);
  options.sort((a, b) => a[1].localeCompare(b[1], language()));
  const select = h('select', { id, name: id, 'data-list': list },
    h('option', { value: '' }, t('lists.none')),
    options.map(([code, text]) => h('option', { value: code }, text)));
  if (current && !options.some(([code]) => code === current)) select.options[0].after(notOffered(list, current, true));
  select.value = current;
  return select;
}

/** Sets a control made by `listControl` to `code`: a choice shows a value it does not offer as
 *  such (and drops one it was set to before, as when the admin's form moves to another
 *  engineer), so a form never loses what a job or an engineer carries. */
export function setListValue(control, list, code) {
  if (control.tagName === 'SELECT') {
    control.querySelectorAll('option[data-not-offered="set"]').forEach((o) => { if (o.value !== code) o.remove(); });
    if (code && ![...control.options].some((o) => o.value === code)) control.options[0].after(notOffered(list, code));
  }
  control.value = code || '';
}

/** Sets any form control to `value`, a list's choice through setListValue (drafts, a live
 *  refresh putting typed values back, a customer picked at intake). */
export function setControlValue(control, value) {
  if (control.dataset.list) setListValue(control, control.dataset.list, value);
  else control.value = value;
}

/** What a form control holds, as it is sent: typed text trimmed, a list's code exactly as
 *  stored (an upgrade made entries of the values in use, spaces and all). */
export const controlValue = (control) => (control.dataset.list ? control.value : control.value.trim());

const isAdmin = () => state.me && state.me.role === 'admin';

/** Stores `entry` in `path` (`regions`, `categories`) with `changes`, then draws the page
 *  again. */
function save(path, entry, changes) {
  act('lists-error', () => api('PUT', `/v1/lists/${path}/${enc(entry.code)}`, {
    name_zh: entry.name_zh, name_en: entry.name_en, retired: entry.retired, ...changes,
  }));
}

/** Fills the list's form with `entry`, to rename it. */
function edit(path, entry) {
  for (const [key, value] of [['code', entry.code], ['zh', entry.name_zh], ['en', entry.name_en]]) {
    const el = document.getElementById(`${path}-${key}`);
    el.value = value;
    el.dataset.dirty = '1'; // a live refresh keeps what is being changed
  }
  document.getElementById(`${path}-zh`).focus();
}

function entryRow(path, entry) {
  // Each button names its entry to a screen reader: the same words repeat on every row.
  const button = (action, attrs, onclick) => h('button', {
    type: 'button', class: 'btn small', ...attrs, onclick,
    'aria-label': t(`lists.${action}_entry`, { name: nameOf(entry) }),
  }, t(`lists.${action}`));
  const actions = isAdmin() ? [
    button('rename', { 'data-edit': entry.code }, () => edit(path, entry)),
    button(entry.retired ? 'restore' : 'retire', { 'data-retire': entry.code }, () => save(path, entry, { retired: !entry.retired })),
    button('delete', { 'data-delete': entry.code, class: 'btn small ghost' },
      () => act('lists-error', () => api('DELETE', `/v1/lists/${path}/${enc(entry.code)}`))),
  ] : null;
  return h('tr', { 'data-code': entry.code, class: entry.retired ? 'retired' : null },
    td(entry.code), td(entry.name_zh), td(entry.name_en),
    td(entry.retired ? t('lists.retired') : t('lists.offered')), td(actions && h('div', { class: 'actions entry-actions' }, actions)));
}

/** An admin's form to add an entry or rename one (the same code replaces it). */
function entryForm({ path, add }) {
  const errEl = h('div', { id: `${path}-error`, class: 'error-box', role: 'alert', hidden: true });
  const id = (key) => `${path}-${key}`;
  // The server's field names → the form's inputs.
  const inputOf = (name) => form.querySelector(`#${id({ code: 'code', name_zh: 'zh', name_en: 'en' }[name] || 'none')}`);
  const input = (key, attrs) => h('input', { id: id(key), name: id(key), type: 'text', autocomplete: 'off', ...attrs });
  const form = h('form', {
    id: id('form'), class: 'list-form', novalidate: true,
    onsubmit: (e) => {
      e.preventDefault();
      const value = (key) => form.querySelector(`#${id(key)}`).value;
      form.querySelectorAll('.invalid').forEach((el) => { el.classList.remove('invalid'); el.removeAttribute('aria-invalid'); });
      // The code goes as typed: the server matches a stored one exactly or once trimmed, and
      // trims a new one. Renaming keeps the entry's retired state. An empty code still goes,
      // and the server names every problem at once.
      const entries = entriesOf(LISTS.find((l) => l.path === path).list);
      const typed = value('code');
      const current = entries.find((x) => x.code === typed) || entries.find((x) => x.code === typed.trim());
      api('PUT', `/v1/lists/${path}/${enc(typed || ' ')}`, {
        name_zh: value('zh'), name_en: value('en'), retired: current ? current.retired : false,
      }).then(() => {
        form.reset();
        form.querySelectorAll('[data-dirty]').forEach((el) => { delete el.dataset.dirty; });
        forgetProblems(path);
        rerender();
      }).catch((err) => { if (err.status !== 401) keepProblems(path, errEl, err, inputOf); });
    },
  },
  h('h3', {}, t(add)),
  errEl,
  h('div', { class: 'list-form-fields' },
    field(id('code'), t('lists.code'), input('code', { maxlength: 40 }), t('lists.code_hint')),
    field(id('zh'), t('lists.name_zh'), input('zh', { maxlength: 100, lang: 'zh-CN' })),
    field(id('en'), t('lists.name_en'), input('en', { maxlength: 100, lang: 'en' }))),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('lists.save'))));
  form.addEventListener('input', (e) => { e.target.classList.remove('invalid'); e.target.removeAttribute('aria-invalid'); });
  restoreProblems(path, errEl, inputOf);
  return form;
}

export async function viewLists() {
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, t('lists.title')),
    h('p', { class: 'muted' }, t('lists.note')),
    errorBox('lists-error'),
    LISTS.map((l) => {
      const entries = entriesOf(l.list);
      return h('section', { class: 'card', id: `list-${l.path}`, 'aria-labelledby': `list-${l.path}-title` },
        h('h2', { id: `list-${l.path}-title` }, t(l.title), ' ', h('span', { class: 'count' }, String(entries.length))),
        // Kept, yet nothing to choose: every new job would be refused until one is restored.
        entries.length && entries.every((e) => e.retired)
          ? h('p', { class: 'error-box', role: 'status' }, t('lists.all_retired')) : null,
        // Scrolls sideways on a phone: reachable from the keyboard.
        entries.length ? h('div', { class: 'table-scroll', tabindex: 0, role: 'region', 'aria-labelledby': `list-${l.path}-title` }, table(
          [t('lists.code'), t('lists.name_zh'), t('lists.name_en'), t('lists.state'), ''],
          entries.map((e) => entryRow(l.path, e)), { id: `list-${l.path}-table` }))
          : h('p', { class: 'muted' }, t('lists.empty')),
        isAdmin() ? entryForm(l) : null);
    }));
}
