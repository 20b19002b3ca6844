// Fieldsync console: the one way to talk to the server's JSON API (fetch with the CSRF
// header, errors carrying the server's status, code, parameters and field, worded in the page's
// language; a 401 brings up sign-in).

import { state } from './state.js';
import { showLogin } from './hooks.js';
import { enc } from './dom.js';
import { errorText, t } from './i18n.js';

/** An Error carrying the HTTP status and the server's code, parameters and field; its message
 *  is in the page's language (the server's own text when the catalog lacks the code). */
function apiError(status, code, message, field, params) {
  const detail = { status, code, field, params: params || {} };
  return Object.assign(new Error(errorText({ ...detail, message })), detail, { serverMessage: message });
}

/** The one way to talk to the server. Resolves to the parsed body (null for 204);
 *  rejects with an apiError carrying the server's message. A 401 brings up sign-in. */
export function api(method, path, body) {
  const opts = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (method !== 'GET') {
    opts.headers['content-type'] = 'application/json';
    if (state.csrf) opts.headers['x-csrf-token'] = state.csrf;
    opts.body = JSON.stringify(body === undefined ? {} : body);
  }
  return send(path, opts);
}

/** Sends raw bytes (a blob, or one part of it) with the CSRF header; answers like api(). */
export function apiBytes(method, path, bytes, headers) {
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
    throw apiError(0, 'network', t('error.network'));
  }
  if (res.status === 204) return null;
  const text = await res.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!res.ok) {
    // An answer that is not the server's JSON (a proxy, a body the server would not read) still
    // gets words: by its status.
    const code = (data && data.code) || (res.status === 413 ? 'too_large' : 'http');
    const params = (data && data.params) || { status: res.status };
    const err = Object.assign(apiError(res.status, code, (data && data.error) || `${res.status} ${res.statusText}`, data && data.field, params), { body: data });
    if (res.status === 401 && !path.startsWith('/v1/auth/')) {
      showLogin(state.csrf ? t('login.session_ended') : null);
    }
    throw err;
  }
  return data;
}

export const blobUrl = (sha256) => `/v1/blobs/${enc(sha256)}`;
