// Fieldsync console: the fleet (#/fleet), every enrolled phone with what it last reported,
// most trouble first, and one phone's page (#/devices/ID) with its syncs and the warnings and
// errors it forwarded. Revoking a phone from here is for dispatchers and admins.

import { state } from './state.js';
import { h, enc, label, table, td, dl, section, fmtWhen, fmtDuration, fmtSize } from './dom.js';
import { api } from './api.js';
import { act, errorBox } from './actions.js';

const TROUBLE = {
  stuck_outbox: 'work stuck in its outbox',
  flagged: 'flagged for an admin',
  not_seen: 'not seen for a day',
  clock_skew: 'clock off by over 5 minutes',
  violations: 'broke field rules',
  parked: 'changes refused and parked',
};

const mayRevoke = () => state.me && (state.me.role === 'dispatcher' || state.me.role === 'admin');

function troubleList(d) {
  if (d.revoked_at) return h('span', { class: 'badge muted' }, 'revoked');
  if (!d.troubles.length) return h('span', { class: 'muted' }, 'fine');
  return h('span', { class: 'troubles' },
    d.troubles.map((t) => h('span', { class: 'badge trouble', title: TROUBLE[t] || t }, TROUBLE[t] || label(t))));
}

/** How old the oldest unsent change was, on the phone's own clock when it reported. */
function outboxAge(report) {
  if (!report || report.oldest_outbox_at == null) return null;
  return fmtDuration(report.device_time - report.oldest_outbox_at);
}

function skew(ms) {
  if (ms == null) return null;
  if (Math.abs(ms) < 1000) return 'in step';
  return `${fmtDuration(Math.abs(ms))} ${ms > 0 ? 'ahead' : 'behind'}`;
}

function revokeButton(d, errorId) {
  if (!mayRevoke() || d.revoked_at) return null;
  return h('button', {
    type: 'button',
    class: 'btn danger',
    onclick: () => {
      if (!window.confirm(`Revoke ${d.device_id}? The phone wipes its jobs the next time it connects.`)) return;
      act(errorId, () => api('POST', `/v1/devices/${enc(d.device_id)}/revoke`));
    },
  }, 'Revoke');
}

export async function viewFleet() {
  const devices = await api('GET', '/v1/devices');
  const rows = devices.map((d) => {
    const r = d.report && d.report.report;
    return h('tr', { class: d.trouble_score ? 'in-trouble' : '' },
      td(h('a', { href: `#/devices/${enc(d.device_id)}` }, d.device_id)),
      td(d.user_id),
      td(troubleList(d)),
      td(d.last_seen ? fmtWhen(d.last_seen) : 'never'),
      td(r ? String(r.outbox_depth) : null, 'num'),
      td(outboxAge(r)),
      td(r ? String(r.parked) : null, 'num'),
      td(r ? fmtSize(r.pending_media_bytes) : null, 'num'),
      td(r && r.free_storage_bytes != null ? fmtSize(r.free_storage_bytes) : null, 'num'),
      td(d.report ? skew(d.report.clock_skew_ms) : null),
      td(r ? [r.app_version || '—', ' / ', r.library_version] : null),
      td(r && r.last_error ? h('span', { class: 'error-text' }, r.last_error) : null),
      td(revokeButton(d, 'fleet-error')));
  });
  return h('div', { class: 'page' },
    h('h1', { class: 'page-title' }, 'Fleet ', h('span', { class: 'count' }, String(devices.length))),
    errorBox('fleet-error'),
    devices.length
      ? h('div', { class: 'card table-scroll' }, table(
        ['Device', 'Installer', 'Trouble', 'Last sync', 'Outbox', 'Oldest', 'Parked', 'Media waiting',
          'Free storage', 'Clock', 'App / library', 'Last error', ''], rows, { id: 'fleet-table' }))
      : h('p', { class: 'empty card' }, 'No phones enrolled yet.'));
}

export async function viewDevice({ params: [id] }) {
  const d = await api('GET', `/v1/devices/${enc(id)}`);
  const r = d.report && d.report.report;
  return h('div', { class: 'page' },
    h('p', {}, h('a', { href: '#/fleet' }, '← Fleet')),
    h('h1', { class: 'page-title' }, d.device_id, ' ', troubleList(d)),
    errorBox('device-error'),
    section('Figures', dl([
      ['Installer', d.user_id],
      ['Enrolled', `${fmtWhen(d.enrolled_at)} by ${d.enrolled_by}`],
      ['Last sync', d.last_seen ? fmtWhen(d.last_seen) : 'never'],
      ['Outbox at its last report', r ? `${r.outbox_depth} waiting${outboxAge(r) ? `, oldest ${outboxAge(r)}` : ''}` : null],
      ['Parked changes', r ? String(r.parked) : null],
      ['Media waiting', r ? fmtSize(r.pending_media_bytes) : null],
      ['Free storage', r && r.free_storage_bytes != null ? fmtSize(r.free_storage_bytes) : null],
      ['Clock', d.report ? skew(d.report.clock_skew_ms) : null],
      ['App', r ? r.app_version : null],
      ['Library', r ? `${r.library_version} (protocol ${r.protocol_version})` : null],
      ['Violations', String(d.violations)],
      ['Last error', r ? r.last_error : null],
    ]), revokeButton(d, 'device-error')),
    section('Syncs', d.syncs.length
      ? table(['When', 'Changes sent', 'Outbox then'], d.syncs.map((s) => h('tr', {},
        td(fmtWhen(s.at)), td(String(s.pushed), 'num'), td(s.outbox_depth == null ? null : String(s.outbox_depth), 'num'))),
      { id: 'device-syncs' })
      : h('p', { class: 'empty' }, 'No syncs yet.')),
    section('Warnings and errors from the phone', d.log.length
      ? table(['On the phone', 'Received', 'Level', 'What happened'], d.log.map((l) => h('tr', {},
        td(fmtWhen(l.at)), td(fmtWhen(l.received_at)), td(h('span', { class: `badge level-${l.level}` }, l.level)),
        td(l.message))), { id: 'device-log' })
      : h('p', { class: 'empty' }, 'Nothing reported.')));
}
