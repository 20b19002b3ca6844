// Fieldsync console: customer records. The list (#/customers) finds a customer by phone number,
// name, address, model or serial as the call taker types; a customer's page (#/customers/ID)
// shows their numbers, sites, products with warranties and every job done for them, starts a
// call for them, and merges a duplicate into them. Intake uses the same search to offer known
// customers while a call is typed (customerMatches).

import { state } from './state.js';
import { enc, h, label, fmtAny, fmtDateTime, section, dl, siteText, positionText, tierBadge, statusChip, table, td } from './dom.js';
import { api } from './api.js';
import { t, errorText } from './i18n.js';
import { errorBox, act } from './actions.js';
import { regionName } from './lists.js';

/** How long typing pauses before a search follows it. */
const TYPING_PAUSE_MS = 200;

/** The intake form's values (input id → value) for a call from customer `c`: their record,
 *  latest number, site and product. */
export function callFrom(c) {
  const site = (c.sites || [])[0] || {};
  const product = (c.products || [])[0] || {};
  return {
    customer_id: c.id, customer_name: c.name, customer_phone: (c.phones || [])[0] || '', customer_email: c.email || '',
    tier: c.tier, site_address: site.address || '', site_province: site.province || '', site_city: site.city || '',
    site_district: site.district || '', region: site.region || '', site_position: positionText(site), product_model: product.model || '', product_serial: product.serial || '',
  };
}

/** Searches customers for `q` (callers decide what a failed search shows). */
export async function searchCustomers(q, limit = 20) {
  return api('GET', `/v1/customers?${new URLSearchParams({ q, limit: String(limit) })}`);
}

/** One line about a customer: tier, name, first phone and site. */
function customerLine(c) {
  const site = (c.sites || [])[0];
  return [tierBadge(c.tier), ' ', h('strong', {}, c.name || '—'),
    (c.phones || [])[0] ? h('span', { class: 'muted' }, ` · ${c.phones[0]}`) : null,
    site ? h('span', { class: 'muted' }, ` · ${siteText(site)}`) : null];
}

export async function viewCustomers() {
  const search = state.customerSearch || (state.customerSearch = { q: '' });
  const results = h('div', { id: 'customers-results', 'aria-live': 'polite' });
  const input = h('input', {
    id: 'customers-q', type: 'search', value: search.q, autocomplete: 'off',
    placeholder: t('customers.search_placeholder'), 'aria-label': t('customers.search_label'),
  });
  let pause;
  let asked = 0;
  const refresh = async () => {
    const seq = ++asked;
    try {
      const found = await searchCustomers(search.q, 50);
      if (seq !== asked) return;
      results.replaceChildren(found.length
        ? h('ul', { id: 'customers-list', class: 'plain customer-list' }, found.map((c) => h('li', {},
          h('a', { class: 'customer-link', href: `#/customers/${enc(c.id)}` }, customerLine(c)))))
        : h('p', { class: 'empty' }, t('customers.none')));
    } catch (err) {
      if (seq === asked) results.replaceChildren(h('p', { class: 'error-box', role: 'alert' }, errorText(err)));
    }
  };
  input.addEventListener('input', () => {
    search.q = input.value;
    clearTimeout(pause);
    pause = setTimeout(refresh, TYPING_PAUSE_MS);
  });
  input.addEventListener('keydown', (e) => {
    const first = results.querySelector('a.customer-link');
    if (e.key === 'Enter' && first) { e.preventDefault(); location.hash = first.getAttribute('href'); }
  });
  await refresh();
  setTimeout(() => { if (!document.activeElement || document.activeElement === document.body) input.focus(); });
  return h('div', { class: 'page customers' }, h('h1', { class: 'page-title' }, t('customers.title')),
    h('p', { class: 'muted' }, t('customers.hint')), input, results);
}

export async function viewCustomer({ params: [id] }) {
  const { customer: c, merged, jobs } = await api('GET', `/v1/customers/${enc(id)}`);
  const now = Date.now();
  const warranty = (p) => {
    if (p.warranty_end == null) return null;
    return h('span', { class: p.warranty_end >= now ? 'in-warranty' : 'muted' },
      t(p.warranty_end >= now ? 'customers.warranty_until' : 'customers.warranty_ended', { date: fmtAny(p.warranty_end) }));
  };
  const newCall = () => {
    state.intakeDraft = callFrom(c);
    location.hash = '#/intake';
  };
  return h('div', { class: 'page customer' },
    h('div', { class: 'job-head' },
      h('div', {}, h('div', { class: 'job-title-line' }, tierBadge(c.tier), h('h1', { id: 'customer-title' }, c.name)),
        h('div', { class: 'job-meta muted' }, t('customers.meta', { id: c.id, n: jobs.length }))),
      c.merged_into ? null : h('button', { id: 'customer-new-call', type: 'button', class: 'btn primary', onclick: newCall }, t('customers.new_call'))),
    c.merged_into ? h('p', { class: 'error-box', role: 'status' }, t('customers.merged_into'), ' ',
      h('a', { href: `#/customers/${enc(c.merged_into)}` }, c.merged_into)) : null,
    errorBox('customer-error'),
    h('div', { class: 'job-grid' },
      h('div', { class: 'col' },
        section(t('customers.contact'), dl([[t('job.phone'), (c.phones || []).join(t('common.list_separator')) || null],
          [t('job.email'), c.email], [t('job.tier'), c.tier === 'vip' ? t('job.tier_vip') : t('job.tier_standard')],
          [t('customers.since'), fmtDateTime(c.created_at)]])),
        section(t('customers.sites'), (c.sites || []).length
          ? h('ul', { id: 'customer-sites', class: 'plain' }, c.sites.map((s) => h('li', {}, siteText(s),
            s.region ? h('span', { class: 'muted' }, ` · ${regionName(s.region)}`) : null)))
          : h('p', { class: 'empty' }, t('customers.no_sites'))),
        section(t('customers.products'), (c.products || []).length
          ? table([t('job.model'), t('job.serial'), t('job.purchase_ref'), t('job.installed'), t('job.warranty_until')],
            c.products.map((p) => h('tr', {}, td(p.model), td(p.serial), td(p.purchase_ref), td(fmtAny(p.install_date)), td(warranty(p)))),
            { id: 'customer-products' })
          : h('p', { class: 'empty' }, t('customers.no_products')))),
      h('div', { class: 'col' },
        section(t('customers.jobs'), jobs.length
          ? table([t('jobs.col_call'), t('jobs.col_status'), t('intake.kind'), t('jobs.col_region'), t('job.rating')],
            jobs.map((j) => h('tr', { 'data-job-id': j.id },
              td(h('a', { class: 'job-link', href: `#/jobs/${enc(j.id)}` }, fmtDateTime(j.call_received_at))),
              td(statusChip(j.status)), td(label(j.kind)), td(regionName(j.region)), td(j.rating != null ? `${j.rating}/5` : null))),
            { id: 'customer-jobs' })
          : h('p', { class: 'empty' }, t('customers.no_jobs'))),
        c.merged_into ? null : section(t('customers.merge'), mergeForm(c.id, merged)))));
}

/** Finds a duplicate of customer `id` and merges it into them. */
function mergeForm(id, merged) {
  const found = h('ul', { id: 'merge-candidates', class: 'plain customer-list' });
  const input = h('input', { id: 'merge-q', type: 'search', autocomplete: 'off', 'aria-label': t('customers.merge_search') });
  let pause;
  input.addEventListener('input', () => {
    clearTimeout(pause);
    pause = setTimeout(async () => {
      const q = input.value.trim();
      const list = q ? (await searchCustomers(q, 10).catch(() => [])).filter((c) => c.id !== id) : [];
      found.replaceChildren(...list.map((c) => h('li', {}, customerLine(c), ' ',
        h('button', { type: 'button', class: 'btn small merge-btn', 'data-customer': c.id,
          onclick: () => {
            if (!window.confirm(t('customers.merge_confirm', { name: c.name }))) return;
            act('customer-error', () => api('POST', `/v1/customers/${enc(c.id)}/merge`, { into: id }));
          } }, t('customers.merge_button')))));
    }, TYPING_PAUSE_MS);
  });
  return [h('p', { class: 'muted' }, t('customers.merge_hint')),
    h('label', { for: 'merge-q' }, t('customers.merge_search')), input, found,
    merged.length ? h('p', { class: 'muted' }, t('customers.merged', { ids: merged.join(t('common.list_separator')) })) : null];
}

/** The known customers that match what is typed in the intake's customer fields, each with a
 *  button that fills the call from the record (`pick`). Updated by `update(q)`. */
export function customerMatches(pick) {
  const box = h('div', { id: 'intake-customers', class: 'intake-customers', 'aria-live': 'polite' });
  let pause;
  let asked = 0;
  const update = (q) => {
    clearTimeout(pause);
    pause = setTimeout(async () => {
      const seq = ++asked;
      const list = q.trim().length >= 2 ? await searchCustomers(q.trim(), 5).catch(() => []) : [];
      if (seq !== asked) return;
      box.replaceChildren(...(list.length ? [h('p', { class: 'muted' }, t('intake.known_customers')),
        h('ul', { class: 'plain customer-list' }, list.map((c) => h('li', {}, customerLine(c), ' ',
          h('button', { type: 'button', class: 'btn small pick-customer', 'data-customer': c.id, onclick: () => pick(c) }, t('intake.use_customer')),
          ' ', h('a', { href: `#/customers/${enc(c.id)}` }, t('intake.customer_history')))))] : []));
    }, TYPING_PAUSE_MS);
  };
  return { box, update };
}
