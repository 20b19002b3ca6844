// Fieldsync console: DOM helpers (h, s, form fields, tables), formatting of times, durations,
// sizes and days, and the small badges and chips the views share. Text always goes in as text
// nodes, never as HTML.

import { MIN, HOUR, DAY, MIB } from './constants.js';
import { language, t, valueLabel } from './i18n.js';

// ---------------------------------------------------------------- DOM helpers

export const $ = (id) => document.getElementById(id);
export const enc = encodeURIComponent;

export function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Builds an element. attrs: on* functions become listeners, `class` may be an array,
 *  `value` is set as a property (after the children, so a <select> finds its option). */
export function h(tag, attrs, ...children) {
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
export function s(tag, attrs, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== null && v !== undefined) el.setAttribute(k, String(v));
  append(el, children);
  return el;
}

/** A labelled form field. */
export function field(id, text, control, hint) {
  return h('div', { class: 'field' }, h('label', { for: id }, text), control,
    hint ? h('span', { class: 'hint' }, hint) : null);
}

/** A site's whole address as its country writes it, as the server's report does
 *  (`Site::full_address`): in Chinese script largest part first and run together, a part the
 *  one before already names (上海 under 上海市) once, leaving out the parts the street already
 *  starts with; otherwise street first, separated by commas. */
export function siteText(site) {
  const base = (part) => part.replace(/[省市]+$/, '');
  const parts = [];
  for (const raw of [site.province, site.city, site.district]) {
    const part = (raw || '').trim();
    if (part && !parts.some((p) => base(p) === base(part))) parts.push(part);
  }
  const street = (site.address || '').trim();
  if (/[\u3400-\u9fff]/.test(parts.join('') + street)) {
    let from = 0;
    while (from < parts.length && !street.startsWith(parts.slice(from).join(''))) from += 1;
    return parts.slice(0, from).join('') + street;
  }
  return [street, ...parts.reverse()].filter(Boolean).join(', ');
}

/** A site's coordinates as a person types them, `lat, lon`; empty when unknown. */
export const positionText = (site) => (site && site.lat != null && site.lon != null ? `${site.lat}, ${site.lon}` : '');

/** A position typed as `lat, lon` (a comma, a Chinese comma or spaces between, as map apps copy
 *  it): `{ lat, lon }`, `null` when nothing was typed, `undefined` when it does not read as two
 *  numbers (the server checks their ranges). */
export function parsePosition(text) {
  const parts = text.trim().split(/\s*[,，]\s*|\s+/).filter(Boolean);
  if (!parts.length) return null;
  const numbers = parts.map(Number);
  if (numbers.length !== 2 || numbers.some((n) => !Number.isFinite(n))) return undefined;
  return { lat: numbers[0], lon: numbers[1] };
}

/** A menu of `options` (values, or [value, text]) with `value` chosen; that option is also the
 *  default, to which resetting the form returns. */
export function select(id, options, value, attrs = {}) {
  return h('select', { id, name: id, value, ...attrs },
    options.map((o) => {
      const [v, text] = Array.isArray(o) ? o : [o, label(o)];
      return h('option', { value: v, selected: v === value }, text);
    }));
}

export function dl(pairs) {
  return h('dl', { class: 'kv' }, pairs.filter(Boolean).flatMap(([k, v]) =>
    [h('dt', {}, k), h('dd', {}, v === null || v === undefined || v === '' ? '—' : v)]));
}

/** Focuses `el` once it is in the document, unless `skip()` says focus is already where it
 *  belongs: a page is built detached and a live refresh may attach a fresh copy later, so a
 *  plain timer could fire while the element is not (or no longer) shown. */
export function focusWhenShown(el, skip = () => false, tries = 40) {
  setTimeout(() => {
    if (!el.isConnected) {
      if (tries > 0) focusWhenShown(el, skip, tries - 1);
      return;
    }
    if (!skip()) el.focus();
  }, 50);
}

export function section(title, ...children) {
  return h('section', { class: 'card' }, h('h2', {}, title), ...children);
}

// ---------------------------------------------------------------- formatting

export const pad = (n) => String(n).padStart(2, '0');
/** An enumeration value the server sends, in words (see i18n.js). */
export const label = valueLabel;
const one = (x) => String(Math.round(x * 10) / 10);
export const pct = (rate) => (rate === null || rate === undefined ? '—' : `${Math.round(rate * 100)}%`);

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || !Number.isFinite(ms)) return '—';
  const a = Math.abs(ms);
  if (a < MIN) return t('time.seconds', { n: Math.round(a / 1000) });
  if (a < HOUR) return t('time.minutes', { n: Math.round(a / MIN) });
  if (a < DAY) return t('time.hours', { n: one(a / HOUR) });
  return t('time.days', { n: one(a / DAY) });
}

// ---------------------------------------------------------------- the organisation's clock

// Times are shown, and typed, on the organisation's clock (its IANA zone, from /v1/me), the one
// the server counts days in; a dispatcher whose computer is set to another zone still sees the
// board's 09:00 at 09:00. Undefined: the browser's own zone.
let zone;

/** Shows and reads times in `name` (e.g. `Asia/Shanghai`); an unknown zone leaves the
 *  browser's. */
export function useTimeZone(name) {
  try {
    new Intl.DateTimeFormat('en', { timeZone: name });
    zone = name;
  } catch (e) {
    zone = undefined;
  }
}

/** The organisation's zone, or the browser's. */
export const timeZone = () => zone || Intl.DateTimeFormat().resolvedOptions().timeZone;

let partsFormat = null;
let partsZone = null;
/** The wall-clock parts of `ms` on the organisation's clock. */
function wall(ms) {
  if (!partsFormat || partsZone !== zone) {
    partsZone = zone;
    partsFormat = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
    });
  }
  const p = Object.fromEntries(partsFormat.formatToParts(new Date(ms)).map((x) => [x.type, x.value]));
  return { y: Number(p.year), m: Number(p.month), d: Number(p.day), hh: Number(p.hour), mm: Number(p.minute) };
}

/** How far the organisation's clock is ahead of UTC at `ms`, to the minute. */
function offsetAt(ms) {
  const w = wall(ms);
  return Date.UTC(w.y, w.m - 1, w.d, w.hh, w.mm) - Math.floor(ms / 60e3) * 60e3;
}

const localized = (ms, opts) => new Date(ms).toLocaleString(language(), { ...opts, timeZone: zone });

export const fmtTime = (ms) => (ms == null ? '—' : localized(ms, { hour: '2-digit', minute: '2-digit' }));
const fmtDate = (ms) => (ms == null ? '—' : localized(ms, { day: 'numeric', month: 'short', year: 'numeric' }));
/** A day (`YYYY-MM-DD`) as a column heading: weekday, day and month. */
export const fmtDay = (day) => localized(dayAt(day, 12), { weekday: 'short', day: 'numeric', month: 'short' });

export function fmtDateTime(ms) {
  if (ms == null) return '—';
  const opts = { weekday: 'short', day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' };
  if (wall(ms).y !== wall(Date.now()).y) opts.year = 'numeric';
  return localized(ms, opts);
}

/** Time only when it is today, else day and time. */
export const fmtWhen = (ms) => (localDay(ms) === localDay() ? fmtTime(ms) : fmtDateTime(ms));

export function fmtRange(start, end) {
  if (start == null) return t('common.none');
  if (end == null) return fmtDateTime(start);
  const sameDay = localDay(start) === localDay(end);
  return `${fmtDateTime(start)} – ${sameDay ? fmtTime(end) : fmtDateTime(end)} (${fmtDuration(end - start)})`;
}

/** Product dates may come as epoch ms or as text. */
export const fmtAny = (v) => (typeof v === 'number' ? fmtDate(v) : v || '—');

/** Sizes in KB below a megabyte, else MB with one decimal. */
export function fmtSize(bytes) {
  if (bytes == null || !Number.isFinite(bytes)) return '—';
  if (bytes < MIB) return `${bytes > 0 ? Math.max(1, Math.round(bytes / 1024)) : 0} KB`;
  return `${one(bytes / MIB)} MB`;
}

// Calendar days are handled as YYYY-MM-DD strings on the organisation's clock, as the server
// counts them.
/** The day of `at` (epoch ms or a Date; now by default). */
export function localDay(at = Date.now()) {
  const w = wall(Number(at));
  return `${w.y}-${pad(w.m)}-${pad(w.d)}`;
}
export const validDay = (v) => (v && /^\d{4}-\d{2}-\d{2}$/.test(v) ? v : null);
/** The instant the organisation's clock shows `hours:minutes` on `day` (a time a clock change
 *  skips reads as the same wall time after it). */
export function dayAt(day, hours = 0, minutes = 0) {
  const [y, m, d] = day.split('-').map(Number);
  const asUtc = Date.UTC(y, m - 1, d, hours, minutes);
  const first = asUtc - offsetAt(asUtc);
  return asUtc - offsetAt(first);
}
export const shiftDay = (day, n) => localDay(dayAt(day) + n * DAY + 2 * HOUR); // +2 h rides over DST
const hhmm = (ms) => { const w = wall(ms); return `${pad(w.hh)}:${pad(w.mm)}`; };
export const toLocalInput = (ms) => (ms == null ? '' : `${localDay(ms)}T${hhmm(ms)}`);
export const toTimeInput = (ms) => (ms == null ? '' : hhmm(ms));
/** "YYYY-MM-DDTHH:MM" (a datetime-local input) on the organisation's clock. */
export function parseLocalInput(v) {
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}):(\d{2})/.exec(v || '');
  return match ? dayAt(match[1], Number(match[2]), Number(match[3])) : null;
}

/** "due in 12 min" / "overdue 3 min", kept current by the ticker. */
export function dueSpan(ms) {
  const el = h('span', { class: 'due', 'data-due': ms, title: fmtDateTime(ms) });
  updateDue(el);
  return el;
}
export function updateDue(el) {
  const left = Number(el.dataset.due) - Date.now();
  el.classList.toggle('overdue', left < 0);
  el.textContent = left < 0 ? t('time.overdue', { duration: fmtDuration(-left) }) : t('time.due_in', { duration: fmtDuration(left) });
}

export const tierBadge = (tier) => (tier === 'vip'
  ? h('span', { class: 'badge vip', title: t('badge.vip_title') }, t('badge.vip'))
  : h('span', { class: 'badge std', title: t('badge.std_title') }, t('badge.std')));
export const ringBadge = (ring) => h('span', { class: `ring ring-${ring}`, title: t('badge.ring_title', { ring }) }, t('badge.ring', { ring }));
export const priorityBadge = (p) => (p && p !== 'normal' ? h('span', { class: `badge prio-${p}` }, label(p)) : null);
/** A device id as shown: the server's own edits are the server's. */
export const deviceName = (d) => (d === 'server' || d === '@server' ? t('common.server') : d);
export const statusChip = (st) => h('span', { class: `status st-${st}` }, label(st));

// ---------------------------------------------------------------- tables

export function table(head, rows, attrs = {}) {
  return h('table', { class: 'data', ...attrs },
    h('thead', {}, h('tr', {}, head.map((t) => h('th', { scope: 'col' }, t)))),
    h('tbody', {}, rows));
}
export const td = (v, cls) => h('td', { class: cls }, v === null || v === undefined || v === '' ? '—' : v);
