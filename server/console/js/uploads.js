// Fieldsync console: blob uploads (attachments of manuals): checksums, resumable uploads in
// parts with Content-Range, and one progress line per file.

import { MIB } from './constants.js';
import { h, fmtSize } from './dom.js';
import { api, apiBytes, blobUrl } from './api.js';
import { t, errorText } from './i18n.js';

const UPLOAD_PART = 4 * MIB; // blobs go up in parts of this size, each resumable
export const MAX_BLOB = 64 * MIB;
const UPLOAD_RETRIES = 5; // failed parts in a row before an upload gives up

const MIME_BY_EXT = {
  pdf: 'application/pdf', png: 'image/png', jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif',
  webp: 'image/webp', svg: 'image/svg+xml', bmp: 'image/bmp', tif: 'image/tiff', tiff: 'image/tiff',
  heic: 'image/heic', avif: 'image/avif',
};
export const fileMime = (file) => file.type || MIME_BY_EXT[(file.name.split('.').pop() || '').toLowerCase()] || 'application/octet-stream';

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
export function uploadRow(file) {
  const bar = h('progress', { max: Math.max(file.size, 1), value: 0 });
  const text = h('span', { class: 'upload-state' }, t('uploads.waiting'));
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
      this.say(t('uploads.uploading', { percent: file.size ? Math.floor((received / file.size) * 100) : 0 }), 'is-busy');
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
export async function uploadFile(file, row) {
  try {
    row.say(t('uploads.computing_checksum'), 'is-busy');
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
        row.say(t('uploads.resuming'), 'is-busy');
        await sleep(1000 * failures);
        // Continue from what the server says it holds.
        status = err.code === 'chunk_out_of_order' && err.body && Number.isInteger(err.body.received)
          ? { received: err.body.received, complete: false } : null;
      }
    }
    row.done(sent ? t('uploads.uploaded') : t('uploads.already_on_server'));
    return sha256;
  } catch (err) {
    row.say(t('uploads.failed', { error: errorText(err) }), 'is-failed');
    // The file's name goes with the error rather than into its message: errorText() may put
    // the message in other words, and the name must survive that (see uploadErrorText).
    err.fileName = file.name;
    throw err;
  }
}

/** An error of uploadFile (or any other) in the page's language, named after its file. */
export const uploadErrorText = (err) => (err && err.fileName
  ? t('uploads.file_error', { name: err.fileName, error: errorText(err) }) : errorText(err));
