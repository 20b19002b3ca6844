// Fieldsync console: the day's map (#/map?day=YYYY-MM-DD): the day's visits and the jobs still to
// plan, each where its site is (or where its engineer arrived), and each engineer where their
// phone last arrived that day. The points are drawn in SVG on the Web Mercator projection the
// tile servers use; with a tile server configured (`serve --map-tiles`) its tiles lie under
// them, without one the points stand on a plain grid with a scale bar, so the map never
// depends on anything outside the server. Every point is a link, and the same jobs are listed
// under the map for the keyboard and screen readers.

import { enc, h, s, fmtTime, fmtDay, localDay, validDay, shiftDay, tierBadge, statusChip } from './dom.js';
import { api } from './api.js';
import { t } from './i18n.js';
import { weekHash } from './week.js';

const PAD = 48;
const TILE = 256;
const MAX_ZOOM = 17;

/** World pixel coordinates of a position at zoom `z` (Web Mercator, as tile servers cut it). */
function project({ lat, lon }, z) {
  const size = TILE * 2 ** z;
  const sin = Math.sin((Math.max(-85, Math.min(85, lat)) * Math.PI) / 180);
  return {
    x: ((lon + 180) / 360) * size,
    y: (0.5 - Math.log((1 + sin) / (1 - sin)) / (4 * Math.PI)) * size,
  };
}

/** The drawing's size in CSS pixels, so that text on it reads the same at any width: the page's
 *  width up to 1000, taller than wide on a phone. */
function drawingSize() {
  const width = Math.round(Math.min(1000, Math.max(300, window.innerWidth - 56)));
  return { width, height: width < 600 ? Math.round(width * 1.2) : 560 };
}

/** The zoom (fractional: the drawing is filled at any width) and the top-left world pixel that
 *  fit every position into a drawing of `width` × `height`. */
function frame(positions, { width, height }) {
  const pts = positions.map((p) => project(p, 0));
  const xs = pts.map((p) => p.x);
  const ys = pts.map((p) => p.y);
  const [spanX, spanY] = [Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)];
  const fit = Math.log2(Math.min((width - 2 * PAD) / (spanX || 1e-9), (height - 2 * PAD) / (spanY || 1e-9)));
  const z = Math.max(1, Math.min(MAX_ZOOM, fit));
  const scale = 2 ** z;
  const cx = ((Math.max(...xs) + Math.min(...xs)) / 2) * scale;
  const cy = ((Math.max(...ys) + Math.min(...ys)) / 2) * scale;
  return { z, left: cx - width / 2, top: cy - height / 2, width, height };
}

/** The tiles under the drawing, as SVG images: those of the whole zoom below, stretched to the
 *  fractional one. */
function tiles(template, { z, left, top, width, height }) {
  const zoom = Math.floor(z);
  const count = 2 ** zoom;
  const size = TILE * 2 ** (z - zoom);
  const images = [];
  for (let tx = Math.floor(left / size); tx * size < left + width; tx += 1) {
    for (let ty = Math.max(0, Math.floor(top / size)); ty * size < top + height && ty < count; ty += 1) {
      const x = ((tx % count) + count) % count;
      const href = template.replace('{z}', zoom).replace('{x}', x).replace('{y}', ty);
      images.push(s('image', { class: 'map-tile', href, x: tx * size - left, y: ty * size - top, width: size, height: size }));
    }
  }
  return images;
}

/** A scale bar of a round length near a fifth of the drawing's width. */
function scaleBar({ z, top, width, height }) {
  const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (top + height / 2)) / (TILE * 2 ** z)))) * 180) / Math.PI;
  const metresPerPixel = (40075016.686 * Math.cos((lat * Math.PI) / 180)) / (TILE * 2 ** z);
  const target = (width / 5) * metresPerPixel;
  const step = 10 ** Math.floor(Math.log10(target));
  const metres = [5, 2, 1].map((m) => m * step).find((m) => m <= target) || step;
  const bar = metres / metresPerPixel;
  const text = metres >= 1000 ? t('map.km', { n: metres / 1000 }) : t('map.m', { n: metres });
  return s('g', { class: 'map-scale', transform: `translate(${PAD / 2},${height - PAD / 2})` },
    s('rect', { x: -6, y: -20, width: bar + 12, height: 28, class: 'map-scale-back' }),
    s('path', { d: `M0,-6 V0 H${bar} V-6` }),
    s('text', { x: bar / 2, y: -8, 'text-anchor': 'middle' }, text));
}

export async function viewMap({ query }) {
  const day = validDay(query.get('day')) || localDay();
  const map = await api('GET', `/v1/map?day=${day}`);
  const names = Object.fromEntries(map.engineers.map((e) => [e.user, e.name || e.user]));
  const engineerOf = (job) => (job.assignee ? names[job.assignee] || job.assignee : t('map.nobody'));
  const placed = map.engineers.filter((e) => e.position);
  const positions = [...map.jobs.map((j) => j.position), ...placed.map((e) => e.position)];
  const go = (d) => { location.hash = `#/map?day=${d}`; };
  const toolbar = h('div', { class: 'toolbar' },
    h('h1', { class: 'page-title' }, t('map.title')),
    h('button', { type: 'button', class: 'btn', 'aria-label': t('map.previous'), onclick: () => go(shiftDay(day, -1)) }, '‹'),
    h('span', { class: 'muted', id: 'map-day' }, fmtDay(day)),
    h('button', { type: 'button', class: 'btn', 'aria-label': t('map.next'), onclick: () => go(shiftDay(day, 1)) }, '›'),
    h('button', { type: 'button', class: 'btn ghost', onclick: () => go(localDay()) }, t('map.today')));
  let drawing;
  if (!positions.length) {
    drawing = h('p', { class: 'card muted', id: 'map-empty' }, t('map.empty'));
  } else {
    const view = frame(positions, drawingSize());
    const at = (p) => { const w = project(p, view.z); return { x: w.x - view.left, y: w.y - view.top }; };
    // A label right of its point, or left of it in the drawing's right half, so it stays inside.
    const labelAt = (x, y) => (x > view.width / 2 ? { x: x - 14, y, 'text-anchor': 'end' } : { x: x + 14, y });
    const jobPoint = (j) => {
      const { x, y } = at(j.position);
      const planned = j.job.assignee && j.job.appointment_start != null;
      const shown = planned ? `${fmtTime(j.job.appointment_start)} ${j.job.customer_name}` : j.job.customer_name;
      // What the point says, then the rest: a link's name starts with its visible text.
      const title = [shown, planned ? engineerOf(j.job) : t('map.to_plan'),
        j.located_by === 'arrival' ? t('map.by_arrival') : null].filter(Boolean).join(' · ');
      return s('a', { href: `#/jobs/${enc(j.job.id)}`, class: 'map-job', 'data-job-id': j.job.id, 'aria-label': title },
        s('title', {}, title),
        s('circle', { cx: x, cy: y, r: 9, class: ['map-dot', planned ? 'is-planned' : 'is-unplanned', `st-${j.job.status}`, j.job.tier === 'vip' && 'is-vip'].filter(Boolean).join(' ') }),
        s('text', { ...labelAt(x, y + 5), class: 'map-label' }, shown));
    };
    const engineerPoint = (e) => {
      const { x, y } = at(e.position);
      const title = t('map.engineer_at', { name: e.name || e.user, time: fmtTime(e.at) });
      return s('a', { href: weekHash(e.user, day), class: 'map-engineer', 'data-user': e.user, 'aria-label': title },
        s('title', {}, title),
        s('rect', { x: x - 11, y: y - 11, width: 22, height: 22, rx: 5, class: 'map-engineer-mark' }),
        s('text', { ...labelAt(x, y + 22), class: 'map-label map-engineer-name' }, e.name || e.user));
    };
    drawing = h('figure', { class: 'card map-figure' },
      s('svg', { id: 'day-map', class: ['map-svg', map.tiles ? 'has-tiles' : 'no-tiles'].join(' '), viewBox: `0 0 ${view.width} ${view.height}`, role: 'group', 'aria-label': t('map.figure', { day: fmtDay(day) }) },
        s('rect', { class: 'map-back', x: 0, y: 0, width: view.width, height: view.height }),
        map.tiles ? tiles(map.tiles, view) : null,
        map.jobs.map(jobPoint), placed.map(engineerPoint), scaleBar(view)),
      h('figcaption', { class: 'map-legend muted' },
        h('span', { class: 'legend-item' }, h('span', { class: 'legend-dot is-planned', 'aria-hidden': 'true' }), t('map.legend_planned')),
        h('span', { class: 'legend-item' }, h('span', { class: 'legend-dot is-unplanned', 'aria-hidden': 'true' }), t('map.legend_unplanned')),
        h('span', { class: 'legend-item' }, h('span', { class: 'legend-engineer', 'aria-hidden': 'true' }), t('map.legend_engineer')),
        h('span', {}, t('map.travel', { kmh: map.travel_kmh }))));
  }
  const jobRows = map.jobs.map((j) => h('tr', { 'data-job-id': j.job.id },
    h('td', {}, h('a', { href: `#/jobs/${enc(j.job.id)}` }, tierBadge(j.job.tier), ' ', j.job.customer_name)),
    h('td', {}, j.job.appointment_start != null ? fmtTime(j.job.appointment_start) : t('map.to_plan')),
    h('td', {}, engineerOf(j.job)), h('td', {}, statusChip(j.job.status)),
    h('td', {}, j.located_by === 'arrival' ? t('map.by_arrival') : t('map.by_site'))));
  return h('div', { class: 'page map' }, toolbar, drawing,
    h('section', { class: 'card', 'aria-labelledby': 'map-jobs-title' },
      h('h2', { id: 'map-jobs-title' }, t('map.jobs', { n: map.jobs.length })),
      map.jobs.length ? h('div', { class: 'table-wrap', tabindex: 0, role: 'region', 'aria-labelledby': 'map-jobs-title' },
        h('table', { id: 'map-jobs' },
          h('thead', {}, h('tr', {}, [t('map.col_customer'), t('map.col_time'), t('map.col_engineer'), t('map.col_status'), t('map.col_place')].map((c) => h('th', {}, c)))),
          h('tbody', {}, jobRows))) : h('p', { class: 'muted' }, t('map.no_jobs')),
      map.unlocated.length ? h('p', { class: 'muted', id: 'map-unlocated' }, t('map.unlocated', { n: map.unlocated.length }), ' ',
        map.unlocated.map((j, i) => [i ? t('common.list_separator') : '', h('a', { href: `#/jobs/${enc(j.id)}` }, j.customer_name)])) : null,
      h('p', { class: 'muted', id: 'map-engineers' }, map.engineers.filter((e) => !e.position).length
        ? t('map.engineers_unplaced', { names: map.engineers.filter((e) => !e.position).map((e) => e.name || e.user).join(t('common.list_separator')) })
        : null)));
}
