// Fieldsync console: the fleet (#/fleet), every enrolled phone with what it last reported,
// most trouble first, and one phone's page (#/devices/ID) with its syncs and the warnings and
// errors it forwarded. Revoking a phone from here is for dispatchers and admins.

import { state } from './state.js';
import { h, enc, label, table, td, dl, section, fmtWhen, fmtDuration, fmtSize } from './dom.js';
import { api } from './api.js';
import { act, errorBox } from './actions.js';
import { t } from './i18n.js';

// The troubles the server names; each has its words in the catalog (fleet.trouble.*).
const TROUBLES = ['stuck_outbox', 'flagged', 'not_seen', 'clock_skew', 'violations', 'parked'];
const troubleText = (x) => (TROUBLES.includes(x) ? t(`fleet.trouble.${x}`) : null);

const mayRevoke = () => state.me && (state.me.role === 'dispatcher' || state.me.role === 'admin');

function troubleList(d) {
  if (d.revoked_at) return h('span', { class: 'badge muted' }, t('fleet.revoked'));
  if (!d.troubles.length) return h('span', { class: 'muted' }, t('fleet.fine'));
  return h('span', { class: 'troubles' },
    d.troubles.map((x) => h('span', { class: 'badge trouble', title: troubleText(x) || x }, troubleText(x) || label(x))));
}

/** How old the oldest unsent change was, on the phone's own clock when it reported. */
function outboxAge(report) {
  if (!report || report.oldest_outbox_at == null) return null;
  return fmtDuration(report.device_time - report.oldest_outbox_at);
}

function skew(ms) {
  if (ms == null) return null;
  if (Math.abs(ms) < 1000) return t('fleet.clock_in_step');
  return t(ms > 0 ? 'fleet.clock_ahead' : 'fleet.clock_behind', { duration: fmtDuration(Math.abs(ms)) });
}

function revokeButton(d, errorId) {
  if (!mayRevoke() || d.revoked_at) return null;
  return h('button', {
    type: 'button',
    class: 'btn danger',
    onclick: () => {
      if (!window.confirm(t('fleet.revoke_confirm', { device: d.device_id }))) return;
      act(errorId, () => api('POST', `/v1/devices/${enc(d.device_id)}/revoke`));
    },
  }, t('fleet.revoke'));
}

export async function viewFleet() {
  const devices = await api('GET', '/v1/devices');
  const rows = devices.map((d) => {
    const r = d.report && d.report.report;
    return h('tr', { class: d.trouble_score ? 'in-trouble' : '' },
      td(h('a', { href: `#/devices/${enc(d.device_id)}` }, d.device_id)),
      td(d.user_id),
      td(troubleList(d)),
      td(d.last_seen ? fmtWhen(d.last_seen) : t('fleet.never')),
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
    h('h1', { class: 'page-title' }, t('fleet.title'), ' ', h('span', { class: 'count' }, String(devices.length))),
    errorBox('fleet-error'),
    devices.length
      ? h('div', { class: 'card table-scroll' }, table(
        [t('fleet.device'), t('fleet.installer'), t('fleet.troubles'), t('fleet.last_sync'), t('fleet.outbox'), t('fleet.oldest'),
          t('fleet.parked'), t('fleet.media_waiting'), t('fleet.free_storage'), t('fleet.clock'), t('fleet.app_library'),
          t('fleet.last_error'), ''], rows, { id: 'fleet-table' }))
      : h('p', { class: 'empty card' }, t('fleet.no_devices')));
}

export async function viewDevice({ params: [id] }) {
  const d = await api('GET', `/v1/devices/${enc(id)}`);
  const r = d.report && d.report.report;
  return h('div', { class: 'page' },
    h('p', {}, h('a', { href: '#/fleet' }, t('fleet.back'))),
    h('h1', { class: 'page-title' }, d.device_id, ' ', troubleList(d)),
    errorBox('device-error'),
    section(t('fleet.figures'), dl([
      [t('fleet.installer'), d.user_id],
      [t('fleet.enrolled'), t('fleet.enrolled_by', { when: fmtWhen(d.enrolled_at), by: d.enrolled_by })],
      [t('fleet.last_sync'), d.last_seen ? fmtWhen(d.last_seen) : t('fleet.never')],
      [t('fleet.outbox_last_report'), r ? (outboxAge(r)
        ? t('fleet.outbox_waiting_oldest', { n: r.outbox_depth, age: outboxAge(r) })
        : t('fleet.outbox_waiting', { n: r.outbox_depth })) : null],
      [t('fleet.parked_changes'), r ? String(r.parked) : null],
      [t('fleet.media_waiting'), r ? fmtSize(r.pending_media_bytes) : null],
      [t('fleet.free_storage'), r && r.free_storage_bytes != null ? fmtSize(r.free_storage_bytes) : null],
      [t('fleet.clock'), d.report ? skew(d.report.clock_skew_ms) : null],
      [t('fleet.app'), r ? r.app_version : null],
      [t('fleet.library'), r ? t('fleet.library_protocol', { library: r.library_version, protocol: r.protocol_version }) : null],
      [t('fleet.violations'), String(d.violations)],
      [t('fleet.last_error'), r ? r.last_error : null],
    ]), revokeButton(d, 'device-error')),
    section(t('fleet.syncs'), d.syncs.length
      ? table([t('fleet.when'), t('fleet.changes_sent'), t('fleet.outbox_then')], d.syncs.map((s) => h('tr', {},
        td(fmtWhen(s.at)), td(String(s.pushed), 'num'), td(s.outbox_depth == null ? null : String(s.outbox_depth), 'num'))),
      { id: 'device-syncs' })
      : h('p', { class: 'empty' }, t('fleet.no_syncs'))),
    section(t('fleet.phone_log'), d.log.length
      ? table([t('fleet.on_the_phone'), t('fleet.received'), t('fleet.level'), t('fleet.what_happened')], d.log.map((l) => h('tr', {},
        td(fmtWhen(l.at)), td(fmtWhen(l.received_at)), td(h('span', { class: `badge level-${l.level}` }, label(l.level))),
        td(l.message))), { id: 'device-log' })
      : h('p', { class: 'empty' }, t('fleet.nothing_reported'))));
}
