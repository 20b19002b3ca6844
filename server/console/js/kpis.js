// Fieldsync console: the KPI dashboard (#/dashboard): filters, tiles, the engineers table and
// the SVG charts (line, bar, grouped bar, horizontal bar).

import { KINDS, MIN, HOUR, DAY } from './constants.js';
import { state } from './state.js';
import { rerender } from './hooks.js';
import { h, s, field, select, label, pct, fmtDuration, table, td } from './dom.js';
import { api } from './api.js';

// ---------------------------------------------------------------- constants

const CLOCKS = ['respond', 'dispatch', 'resolve', 'feedback'];

const DURATION_STEPS = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR,
  3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 3 * DAY, 7 * DAY, 14 * DAY, 30 * DAY];

// ---------------------------------------------------------------- formatting

const pctTick = (t) => `${+(t * 100).toFixed(1)}%`;

// ---------------------------------------------------------------- dashboard

export async function viewDashboard() {
  const f = state.kpi;
  const qs = new URLSearchParams(Object.entries(f).filter(([, v]) => v));
  const d = await api('GET', `/v1/kpis?${qs}`);
  const t = d.total;
  const cats = d.buckets.map((b) => b.period);
  const m = d.buckets.map((b) => b.metrics);
  const rows = (list) => list.map((r) => ({ label: r.key || '—', value: r.jobs, text: String(r.jobs), tip: `${r.key}: ${r.jobs} jobs` }));
  const maxOf = (list) => Math.max(1, ...list.map((r) => r.jobs));
  const durations = [['first_response', 'First response'], ['time_to_dispatch', 'Time to dispatch'],
    ['time_to_resolve', 'Time to resolve'], ['appointment_wait', 'Appointment wait']];
  return h('div', { class: 'page dashboard' },
    h('h1', { class: 'page-title' }, 'Dashboard'),
    kpiFilters(d.options || {}),
    h('p', { class: 'muted range' }, `${d.from_day} – ${d.to_day} · by ${d.period} · ${d.time_zone}`),
    h('div', { class: 'tiles' },
      ratioTile('kpi-first-time-fix', 'First-time fix', t.first_time_fix),
      ratioTile('kpi-install-success', 'Installation success', t.installation_success),
      tile('kpi-satisfaction', 'Satisfied (4–5)', pct(t.satisfaction.rate),
        `mean ${t.mean_rating == null ? '—' : t.mean_rating.toFixed(1)} / 5 · ${t.satisfaction.of} rated`),
      ratioTile('kpi-complaint-rate', 'Complaint rate', t.complaint_rate),
      tile('kpi-jobs', 'Jobs', String(t.jobs), `${d.buckets.length} ${d.period}${d.buckets.length === 1 ? '' : 's'}`),
      tile('kpi-time-to-resolve', 'Time to resolve (median)', fmtDuration(t.time_to_resolve.median_ms),
        `p90 ${fmtDuration(t.time_to_resolve.p90_ms)} · n=${t.time_to_resolve.n}`)),
    h('div', { class: 'charts' },
      figure('chart-rates', 'First-time fix, installation success and satisfaction', cats.length
        ? lineChart('Rates per period', cats, [
          { name: 'First-time fix', cls: 'c1', ratios: m.map((x) => x.first_time_fix) },
          { name: 'Installation success', cls: 'c2', ratios: m.map((x) => x.installation_success) },
          { name: 'Satisfaction (4–5)', cls: 'c3', ratios: m.map((x) => x.satisfaction) }], niceScale(1, [0.25]))
        : null, [['First-time fix', 'c1'], ['Installation success', 'c2'], ['Satisfaction (4–5)', 'c3']]),
      figure('chart-demand', `Demand: jobs per ${d.period}`, cats.length ? barChart('Jobs per period', cats, m.map((x) => x.jobs)) : null),
      figure('chart-durations', 'Response and resolution times over the range (median and p90)',
        groupedBars('Durations', durations.map(([k, name]) => ({ name, n: t[k].n, values: [t[k].median_ms, t[k].p90_ms] })),
          [{ name: 'Median', cls: 'c1' }, { name: 'p90', cls: 'c4' }]), [['Median', 'c1'], ['p90', 'c4']]),
      figure('chart-sla', 'SLA compliance per clock', hBars('SLA compliance', CLOCKS.map((c) => {
        const r = t.sla[c] || { hits: 0, of: 0, rate: null };
        return { label: label(c), value: r.rate, cls: r.rate != null && r.rate < 0.8 ? 'bad' : 'c2',
          text: r.rate == null ? '—' : `${pct(r.rate)} (${r.hits}/${r.of})`, tip: `${label(c)}: ${r.hits} of ${r.of} met` };
      }), 1)),
      figure('chart-category', 'Demand by category', d.by_category.length ? hBars('By category', rows(d.by_category), maxOf(d.by_category)) : null),
      figure('chart-region', 'Demand by region', d.by_region.length ? hBars('By region', rows(d.by_region), maxOf(d.by_region)) : null),
      figure('chart-complaints', 'Complaint rate', cats.length
        ? lineChart('Complaint rate per period', cats, [{ name: 'Complaint rate', cls: 'bad', ratios: m.map((x) => x.complaint_rate) }],
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
    if (f[key] && !list.some((o) => o[0] === f[key])) opts.push([f[key], f[key]]);
    return select(`kpi-${key}`, opts, f[key], { onchange: onChange(key) });
  };
  const pair = (x) => [x, x];
  return h('form', { class: 'card filters', onsubmit: (e) => e.preventDefault() },
    field('kpi-period', 'Period', select('kpi-period', [['day', 'Day'], ['week', 'Week'], ['month', 'Month']], f.period, { onchange: onChange('period') })),
    field('kpi-from', 'From', h('input', { id: 'kpi-from', type: 'date', value: f.from, onchange: onChange('from') })),
    field('kpi-to', 'To', h('input', { id: 'kpi-to', type: 'date', value: f.to, onchange: onChange('to') })),
    field('kpi-region', 'Region', withAll('All regions', (options.regions || []).map(pair), 'region')),
    field('kpi-category', 'Category', withAll('All categories', (options.categories || []).map(pair), 'category')),
    field('kpi-kind', 'Kind', withAll('All kinds', KINDS.map((k) => [k, label(k)]), 'kind')),
    field('kpi-engineer', 'Engineer', withAll('All engineers', (options.engineers || []).map((e) => [e.user, e.name || e.user]), 'engineer')));
}

function tile(id, title, value, sub) {
  return h('div', { id, class: 'card tile' }, h('div', { class: 'tile-title' }, title),
    h('div', { class: 'value' }, value), h('div', { class: 'tile-sub muted' }, sub || ''));
}
const ratioTile = (id, title, r) => tile(id, title, pct(r.rate), `${r.hits} of ${r.of}`);

function engineersTable(d) {
  return h('section', { class: 'card' }, h('h2', {}, 'Engineers'),
    table(['Engineer', 'Jobs done', 'First-time fix', 'Satisfaction', 'Mean rating'], d.engineers.map((e) => {
      const star = e.user === d.service_star;
      return h('tr', { 'data-engineer': e.user, class: star && 'star' },
        h('th', { scope: 'row' }, star ? h('span', { class: 'star-mark', title: 'Service star' }, '★ ') : null, e.name || e.user),
        td(String(e.jobs_done), 'num'), td(pct(e.first_time_fix.rate), 'num'), td(pct(e.satisfaction.rate), 'num'),
        td(e.mean_rating == null ? '—' : e.mean_rating.toFixed(1), 'num'));
    }), { id: 'kpi-engineers' }));
}

// ---------------------------------------------------------------- charts (SVG)

function figure(id, caption, chart, legendItems) {
  return h('figure', { id, class: 'card chart-fig' }, h('figcaption', {}, caption),
    chart || h('p', { class: 'empty' }, 'No data for this selection.'),
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
  for (const t of scale.ticks) {
    svg.append(s('line', { class: 'grid', x1: p.l, x2: p.r, y1: y(t), y2: y(t) }),
      s('text', { class: 'tick', x: p.l - 6, y: y(t) + 4, 'text-anchor': 'end' }, t === 0 ? '0' : fmt(t)));
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
        s('title', {}, `${cats[i]} — ${se.name}: ${pct(r.rate)} (${r.hits} of ${r.of})`)));
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
      s('title', {}, `${cats[i]}: ${v} job${v === 1 ? '' : 's'}`)));
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
      s('title', {}, `${g.name} — ${series[k].name}: ${fmtDuration(v)} (n=${g.n})`)),
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
