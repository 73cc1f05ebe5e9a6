// difflab tracker UI. Every user string (run, experiment, param, tag, note and
// artifact names) is put in the page as text (textContent, attributes through
// setAttribute), never as markup. The pages read the JSON API under /api/.
'use strict';

// ---- DOM and formatting helpers -------------------------------------------

// h(tag, attrs, ...children) makes an element; string children become text.
function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (k === 'class') e.className = v;
    else if (k === 'value') e.value = v;
    else if (k === 'checked') e.checked = !!v;
    else if (k === 'style') e.style.cssText = v; // CSSOM: allowed by the page's CSP
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function clear(e) { while (e.firstChild) e.removeChild(e.firstChild); return e; }

// fill replaces e's children; null, undefined and false children are skipped
// and strings become text.
function fill(e, ...children) {
  clear(e);
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

// num turns the API's numbers back into JS numbers: the tracker writes
// non-finite values as "NaN", "+Inf", "-Inf".
function num(v) {
  if (typeof v === 'number') return v;
  if (v === 'NaN') return NaN;
  if (v === '+Inf') return Infinity;
  if (v === '-Inf') return -Infinity;
  return v === null || v === undefined ? null : Number(v);
}

function fmtNum(v) {
  v = num(v);
  if (v === null) return '';
  if (!isFinite(v)) return String(v);
  if (v !== 0 && (Math.abs(v) >= 1e6 || Math.abs(v) < 1e-4)) return v.toExponential(4).replace(/\.?0+e/, 'e');
  return String(Number(v.toPrecision(6)));
}

function fmtValue(v) {
  if (typeof v === 'number' || v === 'NaN' || v === '+Inf' || v === '-Inf') return fmtNum(v);
  if (typeof v === 'boolean') return v ? 'true' : 'false';
  return v === null || v === undefined ? '' : String(v);
}

function fmtDuration(s) {
  if (!isFinite(s) || s < 0) return '';
  if (s < 1) return (s * 1000).toFixed(0) + ' ms';
  if (s < 60) return s.toFixed(1) + ' s';
  const m = Math.floor(s / 60);
  if (m < 60) return m + ' min ' + Math.round(s - 60 * m) + ' s';
  return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
}

function fmtTime(t) {
  if (!t) return '';
  const d = new Date(t);
  const p = (x) => String(x).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function fmtBytes(n) {
  const u = ['B', 'KiB', 'MiB', 'GiB'];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i ? n.toFixed(1) : n) + ' ' + u[i];
}

function statusBadge(s) { return h('span', { class: 'status status-' + s }, s); }

// palette: well separated colours for overlaid runs (Tableau 10).
const palette = ['#4e79a7', '#f28e2b', '#e15759', '#76b7b2', '#59a14f', '#edc948', '#b07aa1', '#ff9da7', '#9c755f', '#bab0ac'];
function color(i) { return palette[i % palette.length]; }
function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16},${(n >> 8) & 255},${n & 255},${a})`;
}

// ---- API -------------------------------------------------------------------

class APIError extends Error {
  constructor(status, body) {
    super(body && body.error ? body.error : 'HTTP ' + status);
    this.status = status;
    this.body = body || {};
  }
}

async function api(path, params) {
  const u = new URL(path, location.origin);
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== '') u.searchParams.set(k, v);
  }
  const r = await fetch(u, { headers: { Accept: 'application/json' }, credentials: 'same-origin' });
  let body = null;
  try { body = await r.json(); } catch (e) { /* not JSON */ }
  if (!r.ok) throw new APIError(r.status, body);
  return body;
}

function showError(where, err) {
  fill(where, h('div', { class: 'error-box' }, String(err.message || err)));
}

// metricURL is the path of a metric endpoint; keys may hold "/".
function metricPath(prefix, key) {
  return prefix + key.split('/').map(encodeURIComponent).join('/');
}

// ---- selection (kept across pages of the runs table) ------------------------

const selection = {
  get() { try { return JSON.parse(sessionStorage.getItem('difflab.selection') || '[]'); } catch (e) { return []; } },
  set(ids) { sessionStorage.setItem('difflab.selection', JSON.stringify(ids)); },
  has(id) { return this.get().includes(id); },
  toggle(id, on) {
    const s = this.get().filter((x) => x !== id);
    if (on) s.push(id);
    this.set(s);
  },
};

// ---- runs page ---------------------------------------------------------------

async function runsPage(app) {
  const q = new URLSearchParams(location.search);
  const state = {
    experiment: q.get('experiment') || '',
    filter: q.get('filter') || '',
    order: q.get('order') || '',
    offset: Number(q.get('offset') || 0),
    limit: Number(q.get('limit') || 100),
    all: q.get('columns') === 'all',
  };
  const side = h('aside', {}, h('h2', {}, 'Experiments'), h('ul', { class: 'experiments', id: 'experiments' }));
  const input = h('input', { name: 'filter', id: 'filter', value: state.filter, spellcheck: 'false', autocomplete: 'off',
    placeholder: 'params.eta = 0 and metrics.swd < 0.1   (operators = != < <= > >= LIKE, AND OR NOT)' });
  const errBox = h('div', { class: 'filter-error', id: 'filter-error' });
  const form = h('form', { class: 'filter', id: 'filter-form' }, input, h('button', { type: 'submit' }, 'Filter'));
  const compareBtn = h('a', { class: 'button primary', id: 'compare', href: '#' }, 'Compare');
  const clearBtn = h('button', { type: 'button', id: 'clear-selection' }, 'Clear selection');
  const pivotLink = h('a', { class: 'button', id: 'pivot-link', href: '/pivot' }, 'Pivot');
  const pager = h('span', { class: 'pager' });
  const allCols = h('input', { type: 'checkbox', id: 'all-columns', checked: state.all });
  allCols.addEventListener('change', () => { state.all = allCols.checked; load(); });
  const table = h('table', { class: 'data', id: 'runs' });
  const section = h('section', {}, form, errBox, h('div', { class: 'toolbar' }, compareBtn, clearBtn, pivotLink,
    h('label', { title: 'also params with one value on this page, and sub-metrics such as modes/w0' }, allCols, ' all columns'), pager), h('div', { class: 'table-wrap' }, table));
  fill(app, h('div', { class: 'layout' }, side, section));

  function syncURL() {
    const p = new URLSearchParams();
    for (const k of ['experiment', 'filter', 'order']) if (state[k]) p.set(k, state[k]);
    if (state.offset) p.set('offset', state.offset);
    if (state.limit !== 100) p.set('limit', state.limit);
    if (state.all) p.set('columns', 'all');
    history.replaceState(null, '', '/' + (p.toString() ? '?' + p : ''));
    pivotLink.setAttribute('href', '/pivot?' + new URLSearchParams({ experiment: state.experiment, filter: state.filter }));
  }

  function updateCompare() {
    const ids = selection.get();
    compareBtn.textContent = ids.length ? `Compare ${ids.length}` : 'Compare';
    compareBtn.setAttribute('href', ids.length ? '/compare?ids=' + encodeURIComponent(ids.join(',')) : '#');
    compareBtn.classList.toggle('disabled', ids.length === 0);
  }
  compareBtn.addEventListener('click', (e) => { if (!selection.get().length) e.preventDefault(); });
  clearBtn.addEventListener('click', () => { selection.set([]); load(); });

  api('/api/experiments').then((r) => {
    const ul = clear(document.getElementById('experiments'));
    const total = r.experiments.reduce((a, e) => a + e.runs, 0);
    const item = (name, label, n) => {
      const a = h('a', { href: '#', class: state.experiment === name ? 'active' : '' }, h('span', {}, label), h('span', { class: 'count' }, String(n)));
      a.addEventListener('click', (e) => {
        e.preventDefault();
        state.experiment = name;
        state.offset = 0;
        for (const x of ul.querySelectorAll('a')) x.classList.remove('active');
        a.classList.add('active');
        load();
      });
      return h('li', {}, a);
    };
    ul.append(item('', 'All runs', total));
    for (const e of r.experiments) ul.append(item(e.name, e.name, e.runs));
  }).catch((e) => showError(side, e));

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    state.filter = input.value;
    state.offset = 0;
    load();
  });

  function sortHeader(label, field, cls) {
    const cur = state.order.replace(/^-/, '');
    const desc = state.order.startsWith('-');
    const th = h('th', { class: 'sortable ' + (cls || '') + (cur === field ? (desc ? ' sorted-desc' : ' sorted-asc') : ''), title: 'sort by ' + field }, label);
    th.addEventListener('click', () => {
      state.order = cur === field && !desc ? '-' + field : field;
      state.offset = 0;
      load();
    });
    return th;
  }

  let seq = 0;
  async function load() {
    const mine = ++seq;
    syncURL();
    updateCompare();
    let r;
    try {
      r = await api('/api/runs', { experiment: state.experiment, filter: state.filter, order: state.order, limit: state.limit, offset: state.offset });
    } catch (e) {
      if (mine !== seq) return;
      if (e.status === 400 && e.body.column) {
        // Point at the column the parser names, under the text it read.
        const src = e.body.what === 'order-by' ? state.order : state.filter;
        input.classList.toggle('invalid', e.body.what !== 'order-by');
        errBox.textContent = `${e.body.what}: ${src}\n${' '.repeat(e.body.what.length + 2 + e.body.column - 1)}^ column ${e.body.column}: ${e.body.message}`;
      } else {
        errBox.textContent = e.message;
      }
      clear(table);
      clear(pager);
      return;
    }
    if (mine !== seq) return;
    input.classList.remove('invalid');
    errBox.textContent = '';
    // By default the columns are the params that vary on this page and
    // the top-level metrics; "all columns" shows every key.
    const varies = (k) => new Set(r.runs.map((x) => JSON.stringify(x.params[k]))).size > 1;
    const params = state.all ? r.keys.params : r.keys.params.filter(varies);
    const metrics = state.all ? r.keys.metrics : r.keys.metrics.filter((k) => !k.includes('/'));
    const showExp = !state.experiment;
    const allBox = h('input', { type: 'checkbox', title: 'select this page' });
    const head1 = h('tr', {}, h('th', { colspan: showExp ? 6 : 5 }, ''),
      params.length ? h('th', { class: 'group-params', colspan: params.length }, 'params') : null,
      metrics.length ? h('th', { class: 'group-metrics', colspan: metrics.length }, 'metrics (last)') : null);
    const head2 = h('tr', {}, h('th', {}, allBox), sortHeader('status', 'status'), sortHeader('name', 'name'),
      showExp ? sortHeader('experiment', 'experiment') : null, sortHeader('start', 'start_time'), h('th', { class: 'num' }, 'duration'),
      params.map((k) => sortHeader(k, 'params.' + k)), metrics.map((k) => sortHeader(k, 'metrics.' + k, 'num')));
    const body = h('tbody');
    const boxes = [];
    for (const run of r.runs) {
      const box = h('input', { type: 'checkbox', 'data-id': run.id, checked: selection.has(run.id), 'aria-label': 'select run' });
      const tr = h('tr', { 'data-id': run.id, class: selection.has(run.id) ? 'selected' : '' },
        h('td', {}, box),
        h('td', {}, statusBadge(run.status)),
        h('td', { class: 'name', title: run.id }, h('a', { href: '/run/' + encodeURIComponent(run.id) }, run.name || run.id.slice(0, 8))),
        showExp ? h('td', {}, run.experiment) : null,
        h('td', {}, fmtTime(run.start)),
        h('td', { class: 'num' }, fmtDuration(run.duration_s)),
        params.map((k) => h('td', {}, k in run.params ? fmtValue(run.params[k]) : '')),
        metrics.map((k) => h('td', { class: 'num' }, k in run.metrics ? fmtNum(run.metrics[k]) : '')));
      box.addEventListener('change', () => {
        selection.toggle(run.id, box.checked);
        tr.classList.toggle('selected', box.checked);
        updateCompare();
      });
      boxes.push(box);
      body.append(tr);
    }
    allBox.addEventListener('change', () => {
      for (const b of boxes) {
        b.checked = allBox.checked;
        selection.toggle(b.dataset.id, b.checked);
        b.closest('tr').classList.toggle('selected', b.checked);
      }
      updateCompare();
    });
    fill(table, h('thead', {}, head1, head2), body);
    const first = r.total ? r.offset + 1 : 0, last = r.offset + r.runs.length;
    const prev = h('button', { type: 'button', disabled: r.offset === 0 }, '‹ Prev');
    const next = h('button', { type: 'button', disabled: last >= r.total }, 'Next ›');
    prev.addEventListener('click', () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
    next.addEventListener('click', () => { state.offset += state.limit; load(); });
    const size = h('select', { title: 'runs per page' }, [50, 100, 250, 500, 1000].map((n) => h('option', { value: n, selected: n === state.limit }, n + ' / page')));
    size.addEventListener('change', () => { state.limit = Number(size.value); state.offset = 0; load(); });
    fill(pager, h('span', { id: 'page-info' }, `${first}–${last} of ${r.total}`), prev, next, size);
    const running = r.runs.filter((x) => x.status === 'running').length;
    document.getElementById('status-line').textContent = `${r.total} runs` + (running ? `, ${running} running (live)` : '');
    // Live: while a listed run is running, the page refreshes itself (a
    // newer load, from a click, supersedes this one).
    const tick = () => {
      if (mine !== seq) return;
      if (document.visibilityState === 'hidden') setTimeout(tick, 3000);
      else load();
    };
    if (running) setTimeout(tick, 3000);
  }
  await load();
}

// ---- charts -------------------------------------------------------------------

// ema is TensorBoard's debiased exponential moving average: with weight w,
// m_k = w m_{k-1} + (1 - w) y_k, shown as m_k / (1 - w^k) so that the
// first points are not pulled towards 0. Gaps (null, NaN) are skipped.
function ema(ys, w) {
  if (!(w > 0)) return ys;
  let m = 0, k = 0;
  return ys.map((y) => {
    if (y === null || !isFinite(y)) return y;
    m = w * m + (1 - w) * y;
    k++;
    return m / (1 - Math.pow(w, k));
  });
}

// lineChart draws lines (each {label, color, xs, ys, lo, hi, width, faint})
// with an optional band from lo to hi, into box; returns the uPlot.
function lineChart(box, lines, o) {
  const width = Math.max(300, box.clientWidth || 520);
  const logY = !!o.logY;
  const fix = (v) => (v === null || v === undefined || !isFinite(v) || (logY && v <= 0) ? null : v);
  const tables = [];
  const series = [{ label: o.xLabel }];
  const bands = [];
  for (const l of lines) {
    const t = [l.xs, l.ys.map(fix)];
    // A series of one point is a dot (a line needs two).
    series.push({ label: l.label, stroke: l.faint ? alpha(l.color, 0.35) : l.color, width: l.width || 1.5, spanGaps: true, points: { show: l.xs.length < 2, size: 6 } });
    if (l.lo && l.hi) {
      t.push(l.hi.map(fix), l.lo.map(fix));
      const hi = series.length, lo = hi + 1;
      // The band's edges are drawn too, faintly: a spike one bucket wide
      // must stay visible.
      const edge = { stroke: alpha(l.color, 0.45), width: 1, spanGaps: true, points: { show: false } };
      series.push({ ...edge, label: l.label + ' max' }, { ...edge, label: l.label + ' min' });
      bands.push({ series: [hi, lo], fill: alpha(l.color, 0.18) });
    }
    tables.push(t);
  }
  let data = tables.length ? uPlot.join(tables) : [[]];
  // join numbered the series table by table; recompute band indexes.
  const legend = h('div', { class: 'legend' });
  const items = [];
  let si = 1;
  lines.forEach((l) => {
    const value = h('span', { class: 'value' });
    const item = h('span', { class: 'item', 'data-series': l.label, title: l.label }, h('i', { style: 'background:' + l.color }), h('span', { class: 'label' }, l.label), value);
    items.push({ value, index: si, item });
    if (!l.faint || lines.length < 12) legend.append(item);
    si += l.lo && l.hi ? 3 : 1;
  });
  const opts = {
    width, height: 240,
    legend: { show: false },
    scales: { x: { time: false }, y: logY ? { distr: 3 } : {} },
    axes: [{ label: o.xLabel, size: 40 }, { size: 60 }],
    series, bands,
    cursor: { drag: { x: true, y: false } },
    hooks: {
      setCursor: [(u) => {
        const i = u.cursor.idx;
        for (const it of items) {
          const v = i === null || i === undefined ? null : u.data[it.index][i];
          it.value.textContent = v === null || v === undefined ? '' : fmtNum(v);
        }
      }],
    },
  };
  const holder = h('div', { class: 'plot' });
  fill(box, holder, legend);
  const plot = new uPlot(opts, data, holder);
  for (const it of items) {
    it.item.addEventListener('click', () => {
      const on = !it.item.classList.toggle('off');
      plot.setSeries(it.index, { show: on });
    });
  }
  return plot;
}

// chartWidth is the plot width, in pixels, of one chart in the grid charts
// (two columns on wide screens): the number of buckets to ask the server for.
function chartWidth(charts) {
  return Math.max(300, (charts.clientWidth > 1100 ? charts.clientWidth / 2 : charts.clientWidth) - 40);
}

// bucketXY turns the API's buckets into x (step, or seconds since start) and
// last/min/max columns.
function bucketXY(points, xMode, start) {
  const xs = [], ys = [], lo = [], hi = [];
  for (const b of points) {
    xs.push(xMode === 'time' ? (b.time - start) / 1000 : b.start);
    ys.push(num(b.last));
    lo.push(num(b.min));
    hi.push(num(b.max));
  }
  return { xs, ys, lo, hi };
}

// sortedUnique sorts x and drops repeats, keeping the last y (uPlot.join needs
// increasing x).
function increasing(t) {
  const idx = t.xs.map((_, i) => i).sort((a, b) => t.xs[a] - t.xs[b] || a - b);
  const out = { xs: [], ys: [], lo: [], hi: [] };
  for (const i of idx) {
    const n = out.xs.length;
    if (n && out.xs[n - 1] === t.xs[i]) { out.ys[n - 1] = t.ys[i]; out.lo[n - 1] = t.lo[i]; out.hi[n - 1] = t.hi[i]; continue; }
    out.xs.push(t.xs[i]); out.ys.push(t.ys[i]); out.lo.push(t.lo[i]); out.hi.push(t.hi[i]);
  }
  return out;
}

// ---- compare page -------------------------------------------------------------

async function comparePage(app) {
  const q = new URLSearchParams(location.search);
  const ids = (q.get('ids') || '').split(',').filter(Boolean);
  if (!ids.length) {
    fill(app, h('p', {}, 'No runs selected: tick runs in the ', h('a', { href: '/' }, 'runs table'), ' and press Compare.'));
    return;
  }
  let cmp;
  try { cmp = await api('/api/compare', { ids: ids.join(',') }); } catch (e) { showError(app, e); return; }
  const details = await Promise.all(cmp.runs.map((r) => api('/api/runs/' + encodeURIComponent(r.id))));
  const labels = shortNames(cmp.runs.map((r) => r.name || r.id.slice(0, 8)));
  const runs = cmp.runs.map((r, i) => ({ ...r, label: labels[i], color: color(i), detail: details[i] }));
  document.getElementById('status-line').textContent = `${runs.length} runs`;

  // Params side by side: the differing ones highlighted, then the metrics'
  // last values (the best run's in bold), then the common params, folded.
  const runHead = (r) => h('th', { class: 'run-col' }, h('a', { href: '/run/' + encodeURIComponent(r.id), title: r.name || r.id },
    h('span', { class: 'swatch', style: 'background:' + r.color }), r.label));
  const ptab = h('table', { class: 'params data', id: 'params' });
  ptab.append(h('thead', {}, h('tr', {}, h('th', {}, 'param'), runs.map(runHead))));
  const tb = h('tbody');
  tb.append(h('tr', {}, h('td', {}, 'status'), runs.map((r) => h('td', {}, statusBadge(r.status)))));
  for (const d of cmp.differing_params) tb.append(h('tr', { class: 'diff' }, h('td', {}, d.key), d.values.map((v) => h('td', {}, fmtValue(v)))));
  for (const m of cmp.metrics) {
    const best = runs.findIndex((r) => r.id === m.best_run);
    tb.append(h('tr', { class: 'metric' }, h('td', { title: m.goal === 'max' ? 'higher is better' : 'lower is better' }, `metrics.${m.key} ${m.goal === 'max' ? '↑' : '↓'}`),
      m.last.map((v, i) => h('td', { class: 'num' }, i === best ? h('strong', {}, fmtNum(v)) : fmtNum(v)))));
  }
  ptab.append(tb);
  const common = Object.keys(cmp.common_params).sort();
  const ctab = h('table', { class: 'kv data', id: 'common-params' }, h('tbody', {}, common.map((k) => h('tr', {}, h('td', {}, k), h('td', {}, fmtValue(cmp.common_params[k]))))));
  const commonBox = h('details', {}, h('summary', {}, `${common.length} params with the same value in every run`), ctab);

  // Controls.
  // Group by any param or tag whose value differs across the runs.
  const tagKeys = [...new Set(details.flatMap((d) => Object.keys(d.tags)))].sort()
    .filter((k) => new Set(details.map((d) => d.tags[k])).size > 1);
  const groupKeys = [...cmp.differing_params.map((d) => 'params.' + d.key), ...tagKeys.map((k) => 'tags.' + k)];
  const group = h('select', { id: 'group' }, h('option', { value: '' }, 'none'), groupKeys.map((k) => h('option', { value: k }, k)));
  const band = h('select', { id: 'band' }, h('option', { value: 'std' }, 'mean ± std'), h('option', { value: 'minmax' }, 'min / max'));
  const members = h('input', { type: 'checkbox', id: 'members' });
  const smooth = h('input', { type: 'range', id: 'smooth', min: 0, max: 0.99, step: 0.01, value: 0 });
  const smoothVal = h('span', { class: 'muted' }, '0');
  const xMode = h('select', { id: 'xmode' }, h('option', { value: 'step' }, 'step'), h('option', { value: 'time' }, 'wall time (s)'));
  const logY = h('input', { type: 'checkbox', id: 'logy' });
  const controls = h('div', { class: 'controls' },
    h('label', {}, 'group by', group), h('label', {}, 'band', band), h('label', {}, members, 'show members'),
    h('label', {}, 'smoothing', smooth, smoothVal), h('label', {}, 'x axis', xMode), h('label', {}, logY, 'log y'),
    h('a', { href: '/pivot?ids=' + encodeURIComponent(ids.join(',')) }, 'Pivot these runs'));
  const charts = h('div', { class: 'charts', id: 'charts' });
  fill(app, h('h1', {}, `Compare ${runs.length} runs`), h('div', { class: 'table-wrap' }, ptab), commonBox, controls, charts);

  // One chart per metric; the data is fetched once per metric (one grid of
  // buckets for all runs) and redrawn when a control changes.
  const keys = cmp.metrics.map((m) => m.key);
  const boxes = new Map();
  for (const k of keys) {
    const box = h('div', { class: 'plot-box' }, h('p', { class: 'muted' }, 'loading…'));
    boxes.set(k, box);
    charts.append(h('div', { class: 'chart', 'data-metric': k }, h('h3', {}, k), box));
  }
  const data = new Map();
  const width = chartWidth(charts);
  await Promise.all(keys.map(async (k) => {
    try {
      data.set(k, await api(metricPath('/api/metrics/', k), { ids: ids.join(','), points: Math.round(width) }));
    } catch (e) { showError(boxes.get(k), e); }
  }));

  // The controls live in the address too, so that a view can be shared.
  if (groupKeys.includes(q.get('group'))) group.value = q.get('group');
  if (q.get('band') === 'minmax') band.value = 'minmax';
  members.checked = q.get('members') === '1';
  if (q.get('smooth')) smooth.value = q.get('smooth');
  if (q.get('x') === 'time') xMode.value = 'time';
  logY.checked = q.get('logy') === '1';
  function syncURL() {
    const p = new URLSearchParams({ ids: ids.join(',') });
    if (group.value) p.set('group', group.value);
    if (band.value !== 'std') p.set('band', band.value);
    if (members.checked) p.set('members', '1');
    if (Number(smooth.value) > 0) p.set('smooth', smooth.value);
    if (xMode.value !== 'step') p.set('x', xMode.value);
    if (logY.checked) p.set('logy', '1');
    history.replaceState(null, '', '/compare?' + p);
  }

  function draw() {
    syncURL();
    smoothVal.textContent = smooth.value;
    const w = Number(smooth.value), mode = xMode.value, g = group.value;
    for (const k of keys) {
      const d = data.get(k);
      if (!d) continue;
      const per = d.runs.map((s, i) => {
        const t = increasing(bucketXY(s.points, mode, new Date(runs[i].detail.start).getTime()));
        return { run: runs[i], ...t, ys: ema(t.ys, w) };
      });
      if (d.runs.every((s) => s.count <= 1)) {
        // One value per run (a sweep's evaluation): bars, not lines.
        barChart(boxes.get(k), per, g, band.value, logY.checked);
        continue;
      }
      const lines = [];
      if (!g) {
        for (const p of per) lines.push({ label: p.run.label, color: p.run.color, xs: p.xs, ys: p.ys, lo: w > 0 ? null : p.lo, hi: w > 0 ? null : p.hi });
      } else {
        groupRuns(per, g).forEach((grp, gi) => {
          const c = color(gi);
          if (members.checked) for (const p of grp.members) lines.push({ label: p.run.label, color: c, xs: p.xs, ys: p.ys, width: 1, faint: true });
          lines.push({ label: grp.label, color: c, width: 2.2, ...aggregate(grp.members, band.value) });
        });
      }
      lineChart(boxes.get(k), lines, { logY: logY.checked, xLabel: mode === 'time' ? 'seconds since start' : 'step' });
    }
  }
  for (const c of [group, band, members, xMode, logY]) c.addEventListener('change', draw);
  smooth.addEventListener('input', draw);
  draw();
}

// barChart draws one bar per run, or per group of runs with the mean and a
// whisker of ± std (or min to max), for metrics logged once per run.
function barChart(box, per, g, bandMode, logY) {
  let rows = [];
  if (!g) {
    rows = per.map((p) => ({ label: p.run.label, color: p.run.color, v: p.ys[p.ys.length - 1], lo: null, hi: null }));
  } else {
    groupRuns(per, g).forEach((grp, gi) => {
      // Each member's one value, all at the same x.
      const a = aggregate(grp.members.map((p) => ({ xs: [0], ys: p.ys.slice(-1) })), bandMode);
      rows.push({ label: grp.label, color: color(gi), v: a.ys[0], lo: a.lo[0], hi: a.hi[0] });
    });
  }
  const vals = rows.flatMap((r) => [r.v, r.lo, r.hi]).filter((v) => v !== null && v !== undefined && isFinite(v) && (!logY || v > 0));
  const top = Math.max(...vals, 0), bottom = Math.min(...vals, 0);
  const lt = (v) => Math.log10(v);
  const pos = (v) => {
    if (v === null || v === undefined || !isFinite(v)) return null;
    if (logY) {
      if (v <= 0 || !vals.length) return null;
      const lo = lt(Math.min(...vals)), hi = lt(Math.max(...vals));
      return hi > lo ? 5 + 95 * (lt(v) - lo) / (hi - lo) : 100;
    }
    return top > bottom ? 100 * (v - bottom) / (top - bottom) : 0;
  };
  const zero = logY ? 0 : pos(0);
  const list = h('div', { class: 'bars' });
  for (const r of rows) {
    const p = pos(r.v);
    const bar = h('div', { class: 'bar-track' });
    if (p !== null) {
      const left = Math.min(p, zero), width = Math.abs(p - zero);
      bar.append(h('div', { class: 'bar', style: `left:${left}%;width:${Math.max(width, 0.5)}%;background:${r.color}` }));
      const lo = pos(r.lo), hi = pos(r.hi);
      if (lo !== null && hi !== null) bar.append(h('div', { class: 'whisker', style: `left:${lo}%;width:${Math.max(hi - lo, 0.3)}%` }));
    }
    list.append(h('div', { class: 'bar-row', 'data-series': r.label }, h('span', { class: 'bar-label', title: r.label }, r.label), bar,
      h('span', { class: 'bar-value' }, fmtNum(r.v) + (r.lo !== null && r.hi !== null && bandMode !== 'minmax' ? ' ± ' + Number(((r.hi - r.lo) / 2).toPrecision(2)) : ''))));
  }
  fill(box, list);
}

// groupRuns splits the runs' series by field g ("params.eta", "tags.row"),
// in order of first appearance: [{label: "eta=0 (n=3)", members}].
function groupRuns(per, g) {
  const key = g.slice(g.indexOf('.') + 1);
  const groups = new Map();
  for (const p of per) {
    const v = fieldOf(p.run.detail, g);
    if (!groups.has(v)) groups.set(v, []);
    groups.get(v).push(p);
  }
  return [...groups].map(([v, members]) => ({ label: (key === 'row' ? v : `${key}=${v}`) + ` (n=${members.length})`, members }));
}

// fieldOf is a run's "params.KEY" or "tags.KEY" as text.
function fieldOf(run, f) {
  const i = f.indexOf('.');
  const kind = f.slice(0, i), key = f.slice(i + 1);
  return fmtValue(kind === 'tags' ? run.tags[key] : run.params[key]);
}

// shortNames drops the words every name shares ("schedule=linear
// spacing=leading eta=0 S=10 seed=1" -> "eta=0 seed=1" when the rest is
// common), so that legends tell runs apart; names stay whole when that
// would leave one empty or make two equal.
function shortNames(names) {
  if (names.length < 2) return names;
  const words = names.map((n) => n.split(/\s+/));
  const common = new Set(words[0].filter((w) => words.every((ws) => ws.includes(w))));
  const short = words.map((ws) => ws.filter((w) => !common.has(w)).join(' '));
  return short.some((s) => !s) || new Set(short).size < new Set(names).size ? names : short;
}

// aggregate summarises the members of a group at each x they share (the
// server put every run on one grid of buckets): the mean, and a band of mean
// ± sample std or of min and max over the members that have a value there.
function aggregate(ps, bandMode) {
  const at = new Map();
  for (const p of ps) p.xs.forEach((x, i) => {
    const y = p.ys[i];
    if (y === null || !isFinite(y)) return;
    if (!at.has(x)) at.set(x, []);
    at.get(x).push(y);
  });
  const xs = [...at.keys()].sort((a, b) => a - b);
  const ys = [], lo = [], hi = [];
  for (const x of xs) {
    const v = at.get(x);
    const m = v.reduce((a, b) => a + b, 0) / v.length;
    ys.push(m);
    if (bandMode === 'minmax') {
      lo.push(Math.min(...v));
      hi.push(Math.max(...v));
    } else {
      const s = v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) * (b - m), 0) / (v.length - 1)) : 0;
      lo.push(m - s);
      hi.push(m + s);
    }
  }
  return { xs, ys, lo, hi };
}

// ---- pivot page -----------------------------------------------------------------

async function pivotPage(app) {
  const q = new URLSearchParams(location.search);
  const scope = { experiment: q.get('experiment') || '', filter: q.get('filter') || '', ids: q.get('ids') || '' };
  let keys;
  try {
    if (scope.ids) {
      const c = await api('/api/compare', { ids: scope.ids });
      const p = new Set([...Object.keys(c.common_params), ...c.differing_params.map((d) => d.key)]);
      keys = { params: [...p].sort(), tags: [], metrics: c.metrics.map((m) => m.key) };
    } else {
      keys = (await api('/api/runs', { experiment: scope.experiment, filter: scope.filter, limit: 1 })).keys;
    }
  } catch (e) { showError(app, e); return; }
  const fields = [...keys.params.map((k) => 'params.' + k), ...keys.tags.map((k) => 'tags.' + k)];
  const values = [...keys.metrics.map((k) => 'metrics.' + k), ...keys.params.map((k) => 'params.' + k)];
  const pick = (want, list, fallback) => (list.includes(want) ? want : list[fallback] || '');
  const sel = (id, list, cur) => h('select', { id }, list.map((f) => h('option', { value: f, selected: f === cur }, f)));
  const rowSel = sel('pivot-row', fields, q.get('row') || (fields.includes('tags.row') ? 'tags.row' : pick('params.eta', fields, 0)));
  const colSel = sel('pivot-col', fields, q.get('col') || pick('params.steps', fields, 1));
  const valSel = sel('pivot-value', values, q.get('value') || ['metrics.fid', 'metrics.swd', 'metrics.loss'].find((v) => values.includes(v)) || values[0]);
  const goalSel = h('select', { id: 'pivot-goal' }, h('option', { value: '' }, 'goal: auto'), h('option', { value: 'min' }, 'lower is better'), h('option', { value: 'max' }, 'higher is better'));
  goalSel.value = q.get('goal') || '';
  const out = h('div', { id: 'pivot' });
  const scopeText = scope.ids ? `${scope.ids.split(',').length} selected runs` : (scope.experiment ? `experiment ${scope.experiment}` : 'all experiments');
  const filter = h('input', { id: 'pivot-filter', value: scope.filter, spellcheck: 'false', autocomplete: 'off', placeholder: 'filter, e.g. params.schedule = "linear"' });
  const filterForm = h('form', { class: 'filter' }, filter, h('button', { type: 'submit' }, 'Filter'));
  filterForm.addEventListener('submit', (e) => { e.preventDefault(); scope.filter = filter.value; load(); });
  fill(app, h('h1', {}, 'Pivot'), h('p', { class: 'muted' }, 'Mean ± sample std over the runs of each cell (the seeds and every param not chosen: filter to hold one fixed); the best mean of each column in bold; a cell opens its runs side by side. Scope: ', scopeText),
    scope.ids ? null : filterForm,
    h('div', { class: 'controls' }, h('label', {}, 'rows', rowSel), h('label', {}, 'columns', colSel), h('label', {}, 'value', valSel), goalSel), out);

  async function load() {
    const p = new URLSearchParams(location.search);
    for (const [k, v] of [['row', rowSel.value], ['col', colSel.value], ['value', valSel.value], ['goal', goalSel.value], ['filter', scope.filter]]) v ? p.set(k, v) : p.delete(k);
    history.replaceState(null, '', '/pivot?' + p);
    let r;
    try {
      r = await api('/api/pivot', { ...scope, row: rowSel.value, col: colSel.value, value: valSel.value, goal: goalSel.value });
    } catch (e) { showError(out, e); return; }
    const t = h('table', { class: 'pivot data' });
    t.append(h('caption', {}, `${r.value} (${r.goal === 'max' ? 'higher' : 'lower'} is better), ${r.runs} runs`));
    t.append(h('thead', {}, h('tr', {}, h('th', {}, `${r.row} \\ ${r.col}`), r.cols.map((c) => h('th', {}, c)))));
    const body = h('tbody');
    r.rows.forEach((rv, i) => {
      body.append(h('tr', {}, h('th', {}, rv), r.cols.map((c, j) => {
        const cell = r.cells[i][j];
        if (!cell.n) return h('td', { class: 'muted' }, '');
        const a = h('a', { href: '/compare?ids=' + encodeURIComponent(cell.ids.join(',')), title: `${cell.n} runs` }, cell.text);
        return h('td', { class: r.best[j] === i ? 'best' : '', 'data-mean': String(cell.mean), 'data-n': String(cell.n) }, a);
      })));
    });
    t.append(body);
    fill(out, r.rows.length ? h('div', { class: 'table-wrap' }, t) : h('p', { class: 'muted' }, 'No run has all three fields.'));
  }
  for (const s of [rowSel, colSel, valSel, goalSel]) s.addEventListener('change', load);
  await load();
}

// ---- run page -----------------------------------------------------------------

async function runPage(app, id) {
  let run;
  try { run = await api('/api/runs/' + encodeURIComponent(id)); } catch (e) { showError(app, e); return; }
  const head = h('div', { id: 'run-head' });
  const charts = h('div', { class: 'charts', id: 'charts' });
  const arts = h('div', { id: 'artifacts' });
  const info = h('div', { id: 'run-info' });
  fill(app, head, info, h('h2', {}, 'Metrics'), charts, h('h2', {}, 'Artifacts'), arts);
  const plots = new Map();
  let shownArtifacts = '';

  function drawHead() {
    fill(head, h('h1', {}, run.name || run.id), h('p', {},
      statusBadge(run.status), run.status === 'running' ? h('span', { class: 'live' }, '● live') : null, ' ',
      h('span', { class: 'muted' }, 'experiment '), h('a', { href: '/?experiment=' + encodeURIComponent(run.experiment) }, run.experiment),
      h('span', { class: 'muted' }, ` · id ${run.id} · started ${fmtTime(run.start)} · ${fmtDuration(run.duration_s)}`)),
    run.error ? h('pre', { class: 'error' }, run.error) : null);
    document.getElementById('status-line').textContent = run.status;
  }

  function kvTable(obj, fmt) {
    const keys = Object.keys(obj).sort();
    if (!keys.length) return h('p', { class: 'muted' }, 'none');
    return h('table', { class: 'kv data' }, h('tbody', {}, keys.map((k) => h('tr', {}, h('td', {}, k), h('td', {}, fmt(obj[k]))))));
  }

  function drawInfo() {
    const env = {};
    for (const [k, v] of Object.entries(run.env || {})) env[k] = Array.isArray(v) ? v.join(' ') : v;
    fill(info, 
      h('h2', {}, 'Params'), kvTable(run.params, fmtValue),
      h('h2', {}, 'Tags'), kvTable(run.tags, String),
      run.note ? [h('h2', {}, 'Note'), h('pre', { class: 'note', id: 'note' }, run.note)] : null,
      h('details', {}, h('summary', {}, 'Environment'), kvTable(env, fmtValue)));
  }

  async function drawCharts() {
    const keys = Object.keys(run.summaries).sort();
    if (!keys.length) { fill(charts, h('p', { class: 'muted' }, 'No metrics logged yet.')); return; }
    const width = chartWidth(charts);
    await Promise.all(keys.map(async (k) => {
      let box = charts.querySelector(`[data-metric="${CSS.escape(k)}"] .plot-box`);
      const s = run.summaries[k];
      const title = `${k}  last ${fmtNum(s.last)} · min ${fmtNum(s.min)} · max ${fmtNum(s.max)} · ${s.count} points`;
      if (!box) {
        box = h('div', { class: 'plot-box' });
        charts.append(h('div', { class: 'chart', 'data-metric': k }, h('h3', {}, title), box));
      } else {
        box.parentNode.querySelector('h3').textContent = title;
      }
      if (s.count <= 1) {
        // One value (an evaluation): the number, not an empty chart.
        fill(box, h('p', { class: 'single-value' }, fmtNum(s.last), h('span', { class: 'muted' }, ` at step ${s.last_step}`)));
        return;
      }
      const d = await api(metricPath('/api/runs/' + encodeURIComponent(run.id) + '/metrics/', k), { points: Math.round(width) });
      const t = increasing(bucketXY(d.points, 'step', 0));
      const line = { label: k, color: color(0), xs: t.xs, ys: t.ys, lo: t.lo, hi: t.hi };
      const old = plots.get(k);
      if (old) {
        old.setData(uPlot.join([[t.xs, t.ys, t.hi, t.lo]]));
      } else {
        plots.set(k, lineChart(box, [line], { xLabel: 'step' }));
      }
    }));
  }

  function drawArtifacts() {
    const sig = run.artifacts.map((a) => a.name + a.sha256).join('|');
    if (sig === shownArtifacts) return;
    shownArtifacts = sig;
    clear(arts);
    if (!run.artifacts.length) { arts.append(h('p', { class: 'muted' }, 'none')); return; }
    // Images that differ only in their last number (samples/step-1000.png,
    // samples/step-2000.png) are one panel with a step slider.
    const groups = new Map();
    const files = [];
    for (const a of run.artifacts) {
      if (!a.image) { files.push(a); continue; }
      const m = a.name.match(/^(.*?)(\d+)(\D*)$/);
      const key = m ? m[1] + '#' + m[3] : a.name;
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push({ a, n: m ? Number(m[2]) : 0 });
    }
    const grid = h('div', { class: 'artifacts' });
    for (const [key, list] of groups) {
      list.sort((x, y) => x.n - y.n);
      const img = h('img', { alt: list[list.length - 1].a.name, loading: 'lazy' });
      const cap = h('div', { class: 'caption' });
      const show = (i) => {
        img.setAttribute('src', list[i].a.url);
        img.setAttribute('alt', list[i].a.name);
        cap.textContent = list[i].a.name + (list.length > 1 ? `  (${i + 1} of ${list.length})` : '');
      };
      const panel = h('div', { class: 'artifact', 'data-artifact': key }, img, cap);
      if (list.length > 1) {
        const slider = h('input', { type: 'range', min: 0, max: list.length - 1, step: 1, value: list.length - 1, 'aria-label': 'step' });
        slider.addEventListener('input', () => show(Number(slider.value)));
        panel.append(slider);
      }
      show(list.length - 1);
      grid.append(panel);
    }
    arts.append(grid);
    if (files.length) {
      arts.append(h('h3', {}, 'Files'), h('table', { class: 'data', id: 'files' }, h('tbody', {}, files.map((a) =>
        h('tr', {}, h('td', {}, h('a', { href: a.url + '?download=1', download: a.name.split('/').pop() }, a.name)), h('td', { class: 'num' }, fmtBytes(a.size)), h('td', { class: 'muted' }, fmtTime(a.time)))))));
    }
  }

  drawHead();
  drawInfo();
  drawArtifacts();
  await drawCharts();
  // Live: a running run's page follows it without a reload.
  const poll = async () => {
    if (run.status !== 'running') return;
    try {
      run = await api('/api/runs/' + encodeURIComponent(run.id));
      drawHead();
      drawArtifacts();
      await drawCharts();
    } catch (e) { /* keep the last view; try again */ }
    setTimeout(poll, 2000);
  };
  setTimeout(poll, 2000);
}

// ---- router -----------------------------------------------------------------------

async function route() {
  const app = document.getElementById('app');
  const p = location.pathname;
  for (const a of document.querySelectorAll('header nav a')) a.classList.toggle('active', (a.dataset.nav === 'pivot') === p.startsWith('/pivot') && (a.dataset.nav !== 'runs' || p === '/'));
  try {
    if (p === '/') await runsPage(app);
    else if (p === '/compare') await comparePage(app);
    else if (p === '/pivot') await pivotPage(app);
    else if (p.startsWith('/run/')) await runPage(app, decodeURIComponent(p.slice('/run/'.length)));
    else fill(app, h('p', {}, 'No such page. ', h('a', { href: '/' }, 'Runs')));
  } catch (e) {
    showError(app, e);
  }
  document.body.dataset.ready = 'true';
}

route();
