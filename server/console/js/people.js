// Fieldsync console: the people (#/people). Every user with their role, region, skills and
// phones; dispatchers and admins enroll an installer's phone with a one-time code shown as a
// QR code the phone scans (the enrollment link); those who plan set an installer's working
// week and time off (schedule.js); an admin adds or changes users and lifts a sign-in lock-out.

import { state } from './state.js';
import { $, h, s, enc, field, label, select, table, td, fmtDateTime } from './dom.js';
import { api } from './api.js';
import { act, errorBox, showError, clearError } from './actions.js';
import { rerender } from './hooks.js';
import { t } from './i18n.js';
import { mayPlan, scheduleButton, scheduleEditor } from './schedule.js';
import { controlValue, listControl, regionName, setControlValue } from './lists.js';

const ROLES = ['installer', 'dispatcher', 'supervisor', 'head_of_engineering', 'admin'];

const isAdmin = () => state.me && state.me.role === 'admin';
const mayEnroll = () => state.me && (state.me.role === 'dispatcher' || state.me.role === 'admin');

/** The QR code's modules (rows of `1` dark and `0` light) as an SVG, four light modules around
 *  it; each row's dark runs are one rectangle. */
function qrImage(rows) {
  const size = rows.length + 8;
  const runs = [];
  rows.forEach((row, y) => {
    for (let x = 0; x < row.length; x += 1) {
      if (row[x] !== '1') continue;
      let end = x;
      while (row[end + 1] === '1') end += 1;
      runs.push(s('rect', { x: x + 4, y: y + 4, width: end - x + 1, height: 1 }));
      x = end;
    }
  });
  return s('svg', {
    id: 'invitation-qr', viewBox: `0 0 ${size} ${size}`, width: 264, height: 264, role: 'img',
    'aria-label': t('people.qr_label'), 'shape-rendering': 'crispEdges',
  }, s('rect', { width: size, height: size, fill: '#fff' }), s('g', { fill: '#000' }, runs));
}

/** Issues a one-time code for `user`'s phone, shown (once) until dismissed or the page is left. */
function enroll(user) {
  act('people-error', async () => {
    const issued = await api('POST', '/v1/enrollments', { user: user.id });
    state.invitation = { name: user.name || user.id, ...issued };
  });
}

function invitationCard() {
  const inv = state.invitation;
  if (!inv) return null;
  const link = h('input', { id: 'invitation-link', type: 'text', readonly: true, value: inv.link });
  return h('section', { class: 'card invitation', id: 'invitation', 'aria-labelledby': 'invitation-title' },
    h('h2', { id: 'invitation-title' }, t('people.invitation_title', { name: inv.name })),
    h('div', { class: 'invitation-body' },
      qrImage(inv.qr),
      h('div', {},
        h('p', {}, t('people.invitation_help', { when: fmtDateTime(inv.expires_at) })),
        field('invitation-link', t('people.link'), link, t('people.link_hint')),
        h('button', {
          type: 'button', class: 'btn', id: 'invitation-done',
          onclick: () => { state.invitation = null; rerender(); },
        }, t('people.done')))));
}

function userRow(user, phones) {
  const actions = [];
  if (user.role === 'installer' && mayEnroll()) {
    actions.push(h('button', { type: 'button', class: 'btn small', 'data-enroll': user.id, onclick: () => enroll(user) },
      t('people.enroll')));
  }
  if (user.role === 'installer' && mayPlan()) actions.push(scheduleButton(user));
  if (isAdmin()) {
    actions.push(h('button', { type: 'button', class: 'btn small', 'data-edit': user.id, onclick: () => editUser(user) },
      t('people.edit')));
  }
  if (user.role !== 'installer' && isAdmin()) {
    actions.push(h('button', {
      type: 'button', class: 'btn small',
      onclick: () => act('people-error', () => api('POST', `/v1/users/${enc(user.id)}/unlock`)),
    }, t('people.unlock')));
  }
  return h('tr', { 'data-user': user.id },
    td(user.name), td(user.id), td(label(user.role)), td(regionName(user.region)), td((user.skills || []).join(', ')),
    td(phones ? h('a', { href: '#/fleet' }, String(phones)) : null, 'num'), td(actions));
}

/** Fills the admin's form with `user`, to change them (the password stays empty: kept). */
function editUser(user) {
  const values = {
    'user-id': user.id, 'user-name': user.name, 'user-role': user.role, 'user-region': user.region || '',
    'user-skills': (user.skills || []).join(', '), 'user-password': '',
  };
  for (const [id, value] of Object.entries(values)) {
    const el = $(id);
    if (!el) return;
    setControlValue(el, value);
    el.dataset.dirty = '1'; // a live refresh keeps what is being changed
  }
  $('user-name').focus();
}

/** An admin's form to add a user or change one (the same id replaces it). */
function userForm() {
  const input = (id, attrs = {}) => h('input', { id, type: 'text', ...attrs });
  const form = h('form', {
    id: 'user-form', class: 'card people-form', novalidate: true,
    onsubmit: (e) => {
      e.preventDefault();
      const value = (id) => controlValue(form.querySelector(`#${id}`));
      const password = form.querySelector('#user-password').value;
      const body = {
        id: value('user-id'), name: value('user-name'), role: value('user-role'), region: value('user-region'),
        skills: value('user-skills').split(/[,，]/).map((x) => x.trim()).filter(Boolean),
      };
      if (password) body.password = password;
      clearError('user-form-error');
      api('POST', '/v1/users', body)
        .then(() => {
          form.reset();
          form.querySelectorAll('[data-dirty]').forEach((el) => { delete el.dataset.dirty; });
          rerender();
        })
        .catch((err) => showError('user-form-error', err));
    },
  },
  h('h2', {}, t('people.form_title')),
  errorBox('user-form-error'),
  field('user-id', t('people.id'), input('user-id', { required: true, maxlength: 64, autocomplete: 'off' })),
  field('user-name', t('people.name'), input('user-name', { required: true, maxlength: 200 })),
  field('user-role', t('people.role'), select('user-role', ROLES.map((r) => [r, label(r)]), 'installer')),
  field('user-region', t('people.region'), listControl('user-region', 'region', '', { maxlength: 100 })),
  field('user-skills', t('people.skills'), input('user-skills', { maxlength: 500 }), t('people.skills_hint')),
  field('user-password', t('people.password'), h('input', { id: 'user-password', type: 'password', autocomplete: 'new-password' }),
    t('people.password_hint')),
  h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn primary' }, t('people.save'))));
  return form;
}

export async function viewPeople() {
  const [users, devices, schedule] = await Promise.all([api('GET', '/v1/users'), api('GET', '/v1/devices'), scheduleEditor()]);
  const phones = {};
  for (const d of devices) if (!d.revoked_at) phones[d.user_id] = (phones[d.user_id] || 0) + 1;
  users.sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role) || (a.name || a.id).localeCompare(b.name || b.id));
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, t('people.title'), ' ', h('span', { class: 'count' }, String(users.length))),
    errorBox('people-error'),
    invitationCard(),
    schedule,
    h('div', { class: 'card table-scroll' }, table(
      [t('people.name'), t('people.id'), t('people.role'), t('people.region'), t('people.skills'), t('people.phones'), ''],
      users.map((u) => userRow(u, phones[u.id])), { id: 'people-table' })),
    isAdmin() ? userForm() : null);
}
