// Fieldsync console: the manuals view (#/manuals, #/manuals/MODEL/VERSION): the published
// list, one version's sections and attachments, and the upload form (kept for the session).

import { state } from './state.js';
import { $, enc, h, field, fmtDateTime, fmtSize, table, td } from './dom.js';
import { api, blobUrl } from './api.js';
import { MAX_BLOB, fileMime, uploadRow, uploadFile, uploadErrorText } from './uploads.js';
import { t, errorText } from './i18n.js';

export async function viewManuals({ params: [model, version] }) {
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
  if (manual instanceof Error) detail = h('section', { id: 'manual-detail', class: 'card' }, h('div', { class: 'error-box', role: 'alert' }, errorText(manual)));
  else if (manual) detail = manualDetail(manual);
  return h('div', { class: 'page manuals' },
    h('h1', { class: 'page-title' }, t('manuals.title')),
    h('div', { class: 'manuals-grid' },
      h('div', { class: 'col' },
        h('section', { class: 'card', 'aria-labelledby': 'manuals-h' },
          h('h2', { id: 'manuals-h' }, t('manuals.published_heading'), ' ', h('span', { id: 'manual-count', class: 'count' }, String(sorted.length))),
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
  if (!list.length) return h('p', { class: 'empty' }, t('manuals.no_manuals'));
  const head = [t('manuals.col_model'), t('manuals.col_version'), t('manuals.col_title'), t('manuals.col_published'),
    t('manuals.col_by'), t('manuals.col_sections'), t('manuals.col_attachments')];
  return table(head, list.map((m) => {
    const href = `#/manuals/${enc(m.model)}/${m.version}`;
    const on = selected && selected.model === m.model && selected.version === m.version;
    const row = h('tr', { class: ['manual-row', on && 'selected'], 'data-model': m.model, 'data-version': m.version, 'aria-current': on ? 'true' : null },
      h('th', { scope: 'row' }, h('a', { href }, m.model)), td(t('manuals.version', { version: String(m.version) })), td(m.title), td(fmtDateTime(m.published_at)),
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
      h('h2', {}, t('manuals.detail_heading', { model: m.model, version: String(m.version), title: m.title })),
      h('a', { href: '#/manuals', class: 'btn ghost close', 'aria-label': t('manuals.close') }, '×')),
    h('p', { class: 'muted' }, t('manuals.published_by', { date: fmtDateTime(m.published_at), by: m.published_by || '—' })),
    h('h3', {}, t('manuals.sections_heading', { n: sections.length })),
    sections.length ? h('ol', { class: 'manual-sections' }, sections.map((sec) => h('li', { class: 'manual-section', 'data-section-id': sec.id },
      h('div', { class: 'manual-section-head' }, h('strong', {}, sec.title), ' ', h('code', { class: 'muted' }, sec.id)),
      h('div', { class: 'manual-body' }, sec.body))))
      : h('p', { class: 'empty' }, t('manuals.no_sections')),
    h('h3', {}, t('manuals.attachments_heading', { n: attachments.length })),
    attachments.length ? h('ul', { class: 'plain manual-attachments' }, attachments.map((a) => h('li', { 'data-sha256': a.sha256 },
      h('a', { href: blobUrl(a.sha256), target: '_blank', rel: 'noopener' }, a.name || a.sha256),
      h('span', { class: 'muted' }, ` ${a.mime} · ${fmtSize(a.size)}`))))
      : h('p', { class: 'empty' }, t('manuals.no_attachments')));
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
    uploads: h('ul', { id: 'manual-uploads', class: 'upload-list', 'aria-label': t('manuals.uploads_label'), hidden: true }),
    error: h('div', { id: 'manual-error', class: 'error-box', role: 'alert', hidden: true }),
    result: h('p', { id: 'manual-result', class: 'form-result', role: 'status', hidden: true }),
    submit: h('button', { id: 'manual-submit', type: 'submit', class: 'btn primary' }, t('manuals.publish')),
    busy: false,
  };
  const form = h('form', { id: 'manual-form', class: 'card manual-form', novalidate: true, 'aria-labelledby': 'manual-form-h' },
    h('h2', { id: 'manual-form-h' }, t('manuals.form_heading')),
    els.error,
    h('div', { class: 'manual-fields' },
      withError('manual-model', t('manuals.model'), els.model), els.models,
      withError('manual-version', t('manuals.version_field'), els.version),
      withError('manual-title', t('manuals.title_field'), els.title)),
    withError('manual-markdown', t('manuals.markdown'), els.markdown, t('manuals.markdown_hint')),
    els.outline,
    withError('manual-files', t('manuals.files'), els.files, t('manuals.files_hint')),
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
    els.outline.textContent = ids.length ? t('manuals.outline', { n: ids.length, ids: ids.join(t('common.list_separator')) }) : '';
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
    markField(els[key], uploadErrorText(err));
    els[key].focus();
  } else {
    els.error.textContent = uploadErrorText(err);
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
  if (!model) problems.push(['model', t('manuals.need_model')]);
  if (!els.version.value || !Number.isInteger(version) || version < 1) problems.push(['version', t('manuals.bad_version')]);
  if (!title) problems.push(['title', t('manuals.need_title')]);
  if (files.length && !(window.crypto && crypto.subtle)) {
    problems.push(['files', t('manuals.needs_https')]);
  } else {
    const big = files.find((f) => f.size > MAX_BLOB);
    const odd = files.find((f) => !/^image\//.test(fileMime(f)) && fileMime(f) !== 'application/pdf');
    if (big) problems.push(['files', t('manuals.file_too_big', { name: big.name, size: fmtSize(big.size) })]);
    else if (odd) problems.push(['files', t('manuals.file_not_allowed', { name: odd.name })]);
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
    els.submit.textContent = t('manuals.publishing');
    const m = await api('POST', '/v1/manuals', { model, version, title, sections, attachments });
    const n = (m.changed_sections || []).length;
    els.result.textContent = t('manuals.published_result', { model: m.model ?? model, version: String(m.version ?? version), n });
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
    els.submit.textContent = t('manuals.publish');
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
