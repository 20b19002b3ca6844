// Fieldsync console: the words on the page. Every text a person reads comes from a message
// catalog (/i18n/en.json, /i18n/zh-CN.json) through t(); the language is the one the user chose
// on this browser, else the browser's own (Chinese for any zh-*), else English. The sign-in page
// has its own choice (the last one made there on this browser), which becomes the user's when
// they sign in right after making it.
//
// Catalog entries are flat keys ("nav.queues") to text with {name} placeholders; an entry may be
// an object of plural forms ({"one": "…", "other": "…"}) chosen by the `n` parameter.

// Only used inside functions: the import cycle with dom.js (which words its dates) is safe.
import { fmtRange } from './dom.js';

export const LANGUAGES = [['zh-CN', '中文'], ['en', 'English']];
const FALLBACK = 'en';
const STORE_KEY = 'fieldsync.language';
const SIGN_IN_CHOICE = 'fieldsync.language.sign-in';

let lang = FALLBACK;
let messages = {};
let fallback = {};

/** The language the page is shown in: a BCP 47 tag, also used for dates and numbers. */
export const language = () => lang;

/** The language to start in: the user's own choice on this browser (the sign-in page's before
 *  anyone signs in), else the browser's preference. */
export function preferredLanguage(user) {
  const stored = readStore(user ? `${STORE_KEY}.${user}` : STORE_KEY);
  if (stored && LANGUAGES.some(([tag]) => tag === stored)) return stored;
  for (const tag of navigator.languages || [navigator.language]) {
    const lower = String(tag).toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return FALLBACK;
}

/** Loads the catalog of `tag` (and English beneath it for anything it lacks). A catalog that
 *  cannot be loaded leaves the page in English; without English it throws. */
export async function useLanguage(tag) {
  const load = async (t) => {
    const res = await fetch(`/i18n/${t}.json`, { credentials: 'same-origin' });
    if (!res.ok) throw new Error(`the ${t} catalog cannot be loaded (${res.status})`);
    return res.json();
  };
  if (!Object.keys(fallback).length) fallback = await load(FALLBACK);
  try {
    messages = tag === FALLBACK ? fallback : await load(tag);
    lang = tag;
  } catch (e) {
    messages = fallback;
    lang = FALLBACK;
  }
  document.documentElement.lang = lang;
  document.title = t('app.title');
}

/** Remembers a choice on this browser: the user's own once signed in, else the sign-in page's
 *  (which the next user to sign in adopts, having just chosen it). */
export function rememberLanguage(tag, user) {
  if (user) {
    writeStore(`${STORE_KEY}.${user}`, tag);
    return;
  }
  writeStore(STORE_KEY, tag);
  try { sessionStorage.setItem(SIGN_IN_CHOICE, tag); } catch (e) { /* the choice lasts this page */ }
}

/** Makes a language chosen on the sign-in page, just before signing in, the user's own. */
export function adoptSignInChoice(user) {
  let chosen = null;
  try {
    chosen = sessionStorage.getItem(SIGN_IN_CHOICE);
    sessionStorage.removeItem(SIGN_IN_CHOICE);
  } catch (e) { /* nothing was chosen */ }
  if (chosen) rememberLanguage(chosen, user);
}

/** Whether the catalog has `key`. */
export const has = (key) => key in messages || key in fallback;

/** The text of `key` with its {placeholders} filled from `params`. A missing key shows as
 *  the key itself, so it is noticed rather than hidden. */
export function t(key, params = {}) {
  let text = key in messages ? messages[key] : fallback[key];
  if (text === undefined) return key;
  if (typeof text === 'object') {
    // The count is `n`, or else the one number among the parameters (`seconds`…).
    const count = params.n ?? Object.values(params).find((v) => typeof v === 'number');
    const form = new Intl.PluralRules(lang).select(Number(count) || 0);
    text = text[form] ?? text.other;
  }
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? formatParam(params[name]) : whole));
}

const formatParam = (v) => (typeof v === 'number' ? v.toLocaleString(lang) : String(v));

/** A value of an enumeration the server sends (a status, a kind, a role…) in words:
 *  `value.<v>` from the catalog, else the value itself made readable. */
export function valueLabel(v) {
  if (v === null || v === undefined || v === '') return '—';
  const key = `value.${v}`;
  if (has(key)) return t(key);
  const s = String(v);
  return s.charAt(0).toUpperCase() + s.slice(1).replace(/_/g, ' ');
}

/** An error from the server (or the network) in the page's language: the catalog's text for its
 *  code, filled with its parameters (fields, roles, statuses and things in words; `problem`, the
 *  detail of `invalid_field`, `invalid_edit` and `conflict`, as its own sentence), else the
 *  server's own message. */
export function errorText(err) {
  const code = err && err.code;
  const raw = { ...((err && err.params) || {}) };
  if (err && err.field && raw.field === undefined) raw.field = err.field;
  const params = {};
  for (const [name, value] of Object.entries(raw)) params[name] = paramText(name, value);
  // The other visit of a double booking, as the console writes times.
  if (typeof raw.start === 'number') params.when = fmtRange(raw.start, raw.end);
  if (raw.problem !== undefined) {
    const key = `problem.${raw.problem}`;
    params.problem = has(key) ? t(key, params) : (err.message || String(raw.problem));
  }
  let text = code && has(`error.${code}`) ? t(`error.${code}`, params) : (err && err.message) || t('error.unknown');
  // A fault on the server is found in its log by the request's id.
  const id = err && err.body && err.body.request_id;
  if (code === 'internal' && id) text = `${text} ${t('error.request_id', { id })}`;
  return text;
}

/** One parameter of an error in words: names of fields, things, permissions and enumeration
 *  values are translated, everything else is shown as sent. */
function paramText(name, value) {
  if (typeof value !== 'string') return value;
  switch (name) {
    case 'field': return fieldLabel(value);
    case 'thing': return has(`thing.${value}`) ? t(`thing.${value}`) : value;
    case 'permission': return has(`permission.${value}`) ? t(`permission.${value}`) : value;
    case 'role': case 'from': case 'to': case 'recipient': return valueLabel(value);
    default: return value;
  }
}

/** A field of a request (`customer.name`) as the form calls it. */
export const fieldLabel = (f) => (has(`field.${f}`) ? t(`field.${f}`) : f);

function readStore(key) {
  if (!key) return null;
  try { return localStorage.getItem(key); } catch (e) { return null; }
}
function writeStore(key, value) {
  try { localStorage.setItem(key, value); } catch (e) { /* private mode: the choice lasts this page */ }
}

/** A value in words where the same value means different things in different places:
 *  `<namespace>.<v>` from the catalog, else as valueLabel. */
export const termLabel = (namespace, v) => (has(`${namespace}.${v}`) ? t(`${namespace}.${v}`) : valueLabel(v));

/** An SLA clock or reminder kind (`respond`, `dispatch`, `help`…) in words: `dispatch` the
 *  clock (派工) is not `dispatch` the role (调度). */
export const clockLabel = (c) => termLabel('clock', c);

/** Whether the page is in English, the language the server writes its own records in (audit
 *  details, flags): there they are shown as written, more exactly than a catalog can. */
export const readsServerEnglish = () => lang === 'en';

/** What a reminder says, worded from the escalation rule that fired it (`reminder.<rule>`),
 *  else the server's English text. */
/** A reminder in words, naming the job by its customer when the server said who that is. */
export const reminderText = (r) => {
  if (!has(`reminder.${r.rule}`)) return r.message;
  const text = t(`reminder.${r.rule}`, { job: r.customer_name || r.job_id });
  // An escalation by hand carries the reason it was given.
  return r.rule.startsWith('manual:') && r.message ? `${text}: ${r.message}` : text;
};
