// Fieldsync console: the KPI dashboard (#/dashboard): filters, tiles, the engineers table and
// the SVG charts (line, bar, grouped bar, horizontal bar).

import { KINDS, MIN, HOUR, DAY } from './constants.js';
import { state } from './state.js';
import { rerender } from './hooks.js';
import { h, s, field, select, label, pct, fmtDuration, table, td } from './dom.js';
import { api } from './api.js';
import { clockLabel, t } from './i18n.js';
import { listName } from './lists.js';

// ---------------------------------------------------------------- constants

const CLOCKS = ['respond', 'dispatch', 'resolve', 'feedback', 'return_visit'];

const DURATION_STEPS = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR,
  3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];

// ---------------------------------------------------------------- formatting

const pctTick = (v) => `${+(v * 100).toFixed(1)}%`;

// ---------------------------------------------------------------- dashboard

export async function viewDashboard() {
  const f = state.kpi;
  const qs = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
  const d = await api('GET', `/v1/kpis?${qs}`);
  const tot = d.total; // not `t`, which is the catalog's text
  const cats = d.buckets.map((b) => b.period);
  const m = d.buckets.map((b) => b.metrics);
  // Regions and categories by their names in the reader's language.
  const rows = (list, kind) => list.map((r) => ({ label: listName(kind, r.key) || '—', value: r.jobs, text: String(r.jobs),
    tip: t('kpis.jobs_tip', { key: listName(kind, r.key), n: r.jobs }) }));
  const maxOf = (list) => Math.max(1, ...list.map((r) => r.jobs));
  const durations = [['first_response', t('kpis.first_response')], ['time_to_dispatch', t('kpis.time_to_dispatch')],
    ['time_to_resolve', t('kpis.time_to_resolve')], ['appointment_wait', t('kpis.appointment_wait')]];
  // The period is day, week or month; each has its own whole phrases (word order differs).
  const per = (what) => t(`kpis.${what}.${d.period}`, { n: d.buckets.length });
  const ftf = t('kpis.first_time_fix');
  const install = t('kpis.installation_success');
  const satisfied = t('kpis.satisfaction_4_5');
  const satisfiedOnSite = t('kpis.satisfaction_on_site_4_5');
  const mean = (x) => (x == null ? '—' : x.toFixed(1));
  const complaints = t('kpis.complaint_rate');
  const median = t('kpis.median');
  const p90 = t('kpis.p90');
  return h('div', { class: 'page dashboard' },
    h('h1', { class: 'page-title' }, t('kpis.title')),
    kpiFilters(d.options || {}),
    h('p', { class: 'muted range' }, t('kpis.range', { from: d.from_day, to: d.to_day, by: per('by_period'), zone: d.time_zone })),
    h('div', { class: 'tiles' },
      ratioTile('kpi-first-time-fix', ftf, tot.first_time_fix),
      ratioTile('kpi-install-success', install, tot.installation_success),
      // Satisfaction is what customers told customer service on the return-visit call; what
      // they rated on the installer's phone, in front of the installer, is shown apart.
      tile('kpi-satisfaction', t('kpis.satisfied_tile'), pct(tot.customer_satisfaction.rate),
        t('kpis.customer_satisfaction_sub', { mean: mean(tot.customer_mean_rating), n: tot.customer_satisfaction.of })),
      tile('kpi-satisfaction-on-site', t('kpis.satisfied_on_site_tile'), pct(tot.satisfaction.rate),
        t('kpis.satisfaction_sub', { mean: mean(tot.mean_rating), n: tot.satisfaction.of })),
      ratioTile('kpi-complaint-rate', complaints, tot.complaint_rate),
      tile('kpi-jobs', t('kpis.jobs'), String(tot.jobs), per('buckets')),
      tile('kpi-time-to-resolve', t('kpis.time_to_resolve_median'), fmtDuration(tot.time_to_resolve.median_ms),
        t('kpis.resolve_sub', { p90: fmtDuration(tot.time_to_resolve.p90_ms), n: tot.time_to_resolve.n }))),
    h('div', { class: 'charts' },
      figure('chart-rates', t('kpis.chart_rates'), cats.length
        ? lineChart(t('kpis.chart_rates_title'), cats, [
          { name: ftf, cls: 'c1', ratios: m.map((x) => x.first_time_fix) },
          { name: install, cls: 'c2', ratios: m.map((x) => x.installation_success) },
          { name: satisfied, cls: 'c3', ratios: m.map((x) => x.customer_satisfaction) },
          { name: satisfiedOnSite, cls: 'c4', ratios: m.map((x) => x.satisfaction) }], niceScale(1, [0.25]))
        : null, [[ftf, 'c1'], [install, 'c2'], [satisfied, 'c3'], [satisfiedOnSite, 'c4']]),
      figure('chart-demand', per('demand_caption'), cats.length ? barChart(t('kpis.chart_demand_title'), cats, m.map((x) => x.jobs)) : null),
      figure('chart-durations', t('kpis.chart_durations'),
        groupedBars(t('kpis.chart_durations_title'), durations.map(([k, name]) => ({ name, n: tot[k].n, values: [tot[k].median_ms, tot[k].p90_ms] })),
          [{ name: median, cls: 'c1' }, { name: p90, cls: 'c4' }]), [[median, 'c1'], [p90, 'c4']]),
      figure('chart-sla', t('kpis.chart_sla'), hBars(t('kpis.chart_sla_title'), CLOCKS.map((c) => {
        const r = tot.sla[c] || { hits: 0, of: 0, rate: null };
        return { label: clockLabel(c), value: r.rate, cls: r.rate != null && r.rate < 0.8 ? 'bad' : 'c2',
          text: r.rate == null ? '—' : `${pct(r.rate)} (${r.hits}/${r.of})`, tip: t('kpis.sla_tip', { clock: clockLabel(c), hits: r.hits, of: r.of }) };
      }), 1)),
      figure('chart-category', t('kpis.chart_category'), d.by_category.length ? hBars(t('kpis.chart_category_title'), rows(d.by_category, 'category'), maxOf(d.by_category)) : null),
      figure('chart-region', t('kpis.chart_region'), d.by_region.length ? hBars(t('kpis.chart_region_title'), rows(d.by_region, 'region'), maxOf(d.by_region)) : null),
      figure('chart-complaints', complaints, cats.length
        ? lineChart(t('kpis.chart_complaints_title'), cats, [{ name: complaints, cls: 'bad', ratios: m.map((x) => x.complaint_rate) }],
          niceScale(Math.max(0.05, ...m.map((x) => x.complaint_rate.rate || 0))))
        : null)),
    engineersTable(d));
}

function kpiFilters(options) {
  const f = state.kpi;
  const onChange = (key) => (e) => { f[key] = e.target.value; rerender(); };
  // A chosen value stays selectable even if the options for the new range no longer list it.
  const withAll = (allText, list, key) => {
    const opts = [['', allText], ...list];
    if (f[key] && !list.some((o) => o[0] === f[key])) opts.push([f[key], listName(key, f[key])]);
    return select(`kpi-${key}`, opts, f[key], { onchange: onChange(key) });
  };
  const named = (kind) => (x) => [x, listName(kind, x)];
  return h('form', { class: 'card filters', onsubmit: (e) => e.preventDefault() },
    field('kpi-period', t('kpis.period'), select('kpi-period', [['day', t('kpis.period_day')], ['week', t('kpis.period_week')],
      ['month', t('kpis.period_month')]], f.period, { onchange: onChange('period') })),
    field('kpi-from', t('kpis.from'), h('input', { id: 'kpi-from', type: 'date', value: f.from, onchange: onChange('from') })),
    field('kpi-to', t('kpis.to'), h('input', { id: 'kpi-to', type: 'date', value: f.to, onchange: onChange('to') })),
    field('kpi-region', t('kpis.region'), withAll(t('kpis.all_regions'), (options.regions || []).map(named('region')), 'region')),
    field('kpi-category', t('kpis.category'), withAll(t('kpis.all_categories'), (options.categories || []).map(named('category')), 'category')),
    field('kpi-kind', t('kpis.kind'), withAll(t('kpis.all_kinds'), KINDS.map((k) => [k, label(k)]), 'kind')),
    field('kpi-engineer', t('kpis.engineer'), withAll(t('kpis.all_engineers'), (options.engineers || []).map((e) => [e.user, e.name || e.user]), 'engineer')));
}

function tile(id, title, value, sub) {
  return h('div', { id, class: 'card tile' }, h('div', { class: 'tile-title' }, title),
    h('div', { class: 'value' }, value), h('div', { class: 'tile-sub muted' }, sub || ''));
}
const ratioTile = (id, title, r) => tile(id, title, pct(r.rate), t('kpis.hits_of', { hits: r.hits, of: r.of }));

function engineersTable(d) {
  return h('section', { class: 'card' }, h('h2', {}, t('kpis.engineers')),
    table([t('kpis.engineer'), t('kpis.jobs_done'), t('kpis.first_time_fix'), t('kpis.satisfaction'), t('kpis.mean_rating')], d.engineers.map((e) => {
      const star = e.user === d.service_star;
      return h('tr', { 'data-engineer': e.user, class: star && 'star' },
        h('th', { scope: 'row' }, star ? h('span', { class: 'star-mark', title: t('kpis.service_star') }, '★ ') : null, e.name || e.user),
        td(String(e.jobs_done), 'num'), td(pct(e.first_time_fix.rate), 'num'), td(pct(e.satisfaction.rate), 'num'),
        td(e.mean_rating == null ? '—' : e.mean_rating.toFixed(1), 'num'));
    }), { id: 'kpi-engineers' }));
}

// ---------------------------------------------------------------- charts (SVG)

function figure(id, caption, chart, legendItems) {
  return h('figure', { id, class: 'card chart-fig' }, h('figcaption', {}, caption),
    chart || h('p', { class: 'empty' }, t('kpis.no_data')),
    chart && legendItems ? h('ul', { class: 'legend' }, legendItems.map(([name, cls]) => h('li', {}, h('span', { class: `swatch ${cls}` }), name))) : null);
}

/** Round axis maximum and ticks; `steps` offers preferred step sizes (e.g. durations). */
function niceScale(max, steps) {
  const top0 = max > 0 ? max : 1;
  const raw = top0 / 4;
  let step = steps && steps.find((st) => st >= raw);
  if (!step) {
    const e = 10 ** Math.floor(Math.log10(raw));
    step = [1, 2, 5, 10].map((k) => k * e).find((st) => st >= raw);
  }
  const n = Math.max(1, Math.ceil(top0 / step - 1e-9));
  const ticks = Array.from({ length: n + 1 }, (_, i) => i * step);
  return { top: ticks[n], ticks };
}

function frame(title, height = 220) {
  const w = 560;
  return {
    svg: s('svg', { viewBox: `0 0 ${w} ${height}`, class: 'chart', role: 'img', 'aria-label': title }),
    p: { l: 52, r: w - 10, t: 20, b: height - 24 },
  };
}

function drawYAxis({ svg, p }, scale, fmt) {
  const y = (v) => p.b - (v / scale.top) * (p.b - p.t);
  for (const v of scale.ticks) {
    svg.append(s('line', { class: 'grid', x1: p.l, x2: p.r, y1: y(v), y2: y(v) }),
      s('text', { class: 'tick', x: p.l - 6, y: y(v) + 4, 'text-anchor': 'end' }, v === 0 ? '0' : fmt(v)));
  }
  svg.append(s('line', { class: 'axis', x1: p.l, x2: p.l, y1: p.t, y2: p.b }),
    s('line', { class: 'axis', x1: p.l, x2: p.r, y1: p.b, y2: p.b }));
  return y;
}

/** Category x axis; thins labels out so at most ~10 show. */
function drawXBands({ svg, p }, cats) {
  const step = (p.r - p.l) / Math.max(cats.length, 1);
  const x = (i) => p.l + step * (i + 0.5);
  const every = Math.ceil(cats.length / 10);
  cats.forEach((c, i) => {
    if (i % every === 0) svg.append(s('text', { class: 'tick', x: x(i), y: p.b + 16, 'text-anchor': 'middle' }, c));
  });
  return { x, step };
}

function lineChart(title, cats, series, scale) {
  const f = frame(title);
  const y = drawYAxis(f, scale, pctTick);
  const { x } = drawXBands(f, cats);
  for (const se of series) {
    let d = '';
    let down = false; // null rates break the line instead of dropping to zero
    se.ratios.forEach((r, i) => {
      if (!r || r.rate == null) { down = false; return; }
      d += `${down ? 'L' : 'M'}${x(i).toFixed(1)},${y(r.rate).toFixed(1)}`;
      down = true;
    });
    if (d) f.svg.append(s('path', { class: `line ${se.cls}`, d }));
    se.ratios.forEach((r, i) => {
      if (!r || r.rate == null) return;
      f.svg.append(s('circle', { class: `dot ${se.cls}`, cx: x(i), cy: y(r.rate), r: 3.5 },
        s('title', {}, t('kpis.rate_tip', { period: cats[i], series: se.name, rate: pct(r.rate), hits: r.hits, of: r.of }))));
    });
  }
  return f.svg;
}

function barChart(title, cats, values) {
  const f = frame(title);
  const scale = niceScale(Math.max(0, ...values), [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000]);
  const y = drawYAxis(f, scale, String);
  const { x, step } = drawXBands(f, cats);
  const bw = Math.max(2, Math.min(40, step * 0.7));
  values.forEach((v, i) => {
    f.svg.append(s('rect', { class: 'bar c1', x: x(i) - bw / 2, y: y(v), width: bw, height: f.p.b - y(v) },
      s('title', {}, t('kpis.period_jobs_tip', { period: cats[i], n: v }))));
    if (cats.length <= 16 && v > 0) f.svg.append(s('text', { class: 'bar-label', x: x(i), y: y(v) - 4, 'text-anchor': 'middle' }, String(v)));
  });
  return f.svg;
}

/** Groups of bars sharing one linear duration axis, each bar labelled with its value. */
function groupedBars(title, groups, series) {
  const f = frame(title);
  const all = groups.flatMap((g) => g.values.filter((v) => v != null));
  const y = drawYAxis(f, niceScale(Math.max(0, ...all), DURATION_STEPS), fmtDuration);
  const { x, step } = drawXBands(f, groups.map((g) => g.name));
  const bw = Math.min(44, (step * 0.8) / series.length);
  groups.forEach((g, i) => g.values.forEach((v, k) => {
    const bx = x(i) - (bw * series.length) / 2 + k * bw;
    if (v == null) {
      f.svg.append(s('text', { class: 'bar-label', x: bx + bw / 2, y: f.p.b - 4, 'text-anchor': 'middle' }, '—'));
      return;
    }
    const top = Math.min(y(v), f.p.b - 2); // the shortest bar still shows
    f.svg.append(s('rect', { class: `bar ${series[k].cls}`, x: bx + 1, y: top, width: bw - 2, height: f.p.b - top },
      s('title', {}, t('kpis.duration_tip', { group: g.name, series: series[k].name, duration: fmtDuration(v), n: g.n }))),
    s('text', { class: 'bar-label', x: bx + bw / 2, y: top - 4, 'text-anchor': 'middle' }, fmtDuration(v)));
  }));
  return f.svg;
}

/** Horizontal bars: label, bar against a track, value text. */
function hBars(title, rows, max) {
  const w = 560;
  const rowH = 24;
  const lab = 140;
  const span = w - lab - 120;
  const svg = s('svg', { viewBox: `0 0 ${w} ${rows.length * rowH + 8}`, class: 'chart', role: 'img', 'aria-label': title });
  rows.forEach((r, i) => {
    const y0 = 4 + i * rowH;
    const text = r.label.length > 20 ? `${r.label.slice(0, 19)}…` : r.label;
    svg.append(
      s('text', { class: 'tick', x: lab - 8, y: y0 + 15, 'text-anchor': 'end' }, s('title', {}, r.label), text),
      s('rect', { class: 'track', x: lab, y: y0 + 3, width: span, height: rowH - 8 }),
      s('rect', { class: `bar ${r.cls || 'c1'}`, x: lab, y: y0 + 3, width: r.value ? (r.value / max) * span : 0, height: rowH - 8 },
        s('title', {}, r.tip)),
      s('text', { class: 'bar-label', x: lab + span + 6, y: y0 + 15 }, r.text));
  });
  return svg;
}
