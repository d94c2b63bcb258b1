/**
 * The dashboard's static page, stylesheet and script. Nothing user-controlled is ever put in
 * these strings: pool data reaches the page only as JSON and is rendered with `textContent`.
 */

/** The page; `refreshMs` is a validated integer. */
export function dashboardHtml(refreshMs: number): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>@dal pools</title>
<link rel="stylesheet" href="app.css">
<script src="app.js" defer></script>
</head>
<body data-refresh-ms="${refreshMs}">
<header><h1>@dal pools</h1><span id="updated">connecting…</span><a href="metrics">Prometheus</a></header>
<section id="overview">
<article class="panel wide"><h2>Latency by operation</h2><p class="hint">Percentiles estimated from the duration histograms; click a column to sort.</p>
<table id="operations"><thead><tr>
<th data-sort="pool" data-type="text">pool</th><th data-sort="operation" data-type="text">operation</th><th data-sort="count">count</th><th data-sort="errors">errors</th>
<th data-sort="avgMs">avg (ms)</th><th data-sort="p50Ms">p50 (ms)</th><th data-sort="p95Ms">p95 (ms)</th><th data-sort="p99Ms" aria-sort="descending">p99 (ms)</th>
</tr></thead><tbody><tr class="empty"><td colspan="8">No statements yet.</td></tr></tbody></table></article>
<article class="panel"><h2>Errors by kind (per second, all pools)</h2><div id="errors-chart"></div><p id="errors-legend" class="legend"></p></article>
<article class="panel full"><h2>Last slow queries</h2><p class="hint">Literals and parameter values redacted; kept while this page's server runs.</p>
<table id="slow"><thead><tr><th>time</th><th>pool</th><th>duration</th><th>SQL</th><th>params</th><th>tags</th><th>error</th></tr></thead>
<tbody><tr class="empty"><td colspan="7">No slow queries.</td></tr></tbody></table></article>
</section>
<section id="shardings"></section>
<main id="pools"><p class="empty">No pools open yet.</p></main>
</body>
</html>
`;
}

/** The stylesheet. */
export const DASHBOARD_CSS = `
:root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #6a7386; --line: #dde1e8;
  --normal: #2e8b57; --mild: #c9a400; --high: #e07b00; --critical: #c62828; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.4 system-ui, sans-serif; background: var(--bg); color: var(--ink); }
header { display: flex; gap: 16px; align-items: baseline; padding: 12px 20px; border-bottom: 1px solid var(--line); background: var(--card); }
header h1 { font-size: 18px; margin: 0; }
header #updated { color: var(--muted); flex: 1; }
main { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 16px; padding: 16px 20px; }
.empty { color: var(--muted); }
.pool { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px; }
.pool h2 { font-size: 16px; margin: 0 8px 0 0; display: inline; overflow-wrap: anywhere; }
.pool .system { color: var(--muted); }
.badge { display: inline-block; float: right; padding: 2px 10px; border-radius: 10px; color: #fff; font-weight: 600; text-transform: uppercase; font-size: 12px; }
.badge.normal { background: var(--normal); } .badge.mild { background: var(--mild); }
.badge.high { background: var(--high); } .badge.critical { background: var(--critical); }
.advice { margin: 8px 0 10px; font-weight: 600; }
dl { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px 12px; margin: 0 0 12px; }
dt { color: var(--muted); font-size: 12px; } dd { margin: 0; font-variant-numeric: tabular-nums; font-size: 15px; }
.bar { height: 6px; background: var(--line); border-radius: 3px; overflow: hidden; margin-bottom: 10px; }
.bar > div { height: 100%; background: var(--normal); }
.bar > .mild { background: var(--mild); } .bar > .high { background: var(--high); } .bar > .critical { background: var(--critical); }
.charts { display: grid; grid-template-columns: repeat(3, 1fr); gap: 8px; }
.chart { margin: 0; }
.chart figcaption { color: var(--muted); font-size: 12px; }
.chart svg { width: 100%; height: 48px; background: #fafbfc; border: 1px solid var(--line); border-radius: 4px; }
.chart polyline { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.chart.rate polyline { stroke: var(--critical); } .chart.util polyline { stroke: #3b6fd8; } .chart.wait polyline { stroke: #7b3fb5; }
.chart svg.axes { height: 90px; }
svg.axes text { font-size: 9px; fill: var(--muted); font-family: system-ui, sans-serif; }
svg.axes line.axis { stroke: var(--line); stroke-width: 1; vector-effect: non-scaling-stroke; }
#overview { display: grid; grid-template-columns: 2fr 1fr; gap: 16px; padding: 16px 20px 0; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 12px 16px; min-width: 0; }
.panel.full { grid-column: 1 / -1; }
.panel h2 { font-size: 15px; margin: 0 0 4px; }
.hint { color: var(--muted); font-size: 12px; margin: 0 0 8px; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
th, td { text-align: left; padding: 3px 8px; border-bottom: 1px solid var(--line); font-size: 13px; }
th { color: var(--muted); font-weight: 600; }
#operations th { cursor: pointer; user-select: none; }
#operations th[aria-sort="ascending"]::after { content: ' ▲'; } #operations th[aria-sort="descending"]::after { content: ' ▼'; }
#operations td:nth-child(n+3) { text-align: right; }
#slow td.sql { font-family: ui-monospace, monospace; font-size: 12px; overflow-wrap: anywhere; }
tr.empty td { color: var(--muted); }
#shardings { display: grid; gap: 16px; padding: 16px 20px 0; }
#shardings:empty { display: none; }
.sharding .tables { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; align-items: start; }
.sharding .scroll { max-height: 260px; overflow: auto; }
.sharding td:nth-child(n+4), .sharding th:nth-child(n+4) { text-align: right; }
.sharding tr.frozen td { background: #fff4e0; font-weight: 600; }
.sharding tr.failing td[data-field="errors"] { color: var(--critical); font-weight: 600; }
.replica-nodes { margin: 8px 0; }
.replica-nodes tr.failing td[data-field="healthy"] { color: var(--critical); font-weight: 600; }
#errors-chart svg { width: 100%; height: 130px; }
#errors-chart polyline { fill: none; stroke-width: 1.5; vector-effect: non-scaling-stroke; }
.legend { font-size: 12px; margin: 4px 0 0; } .legend span { margin-right: 10px; white-space: nowrap; }
.legend i { display: inline-block; width: 10px; height: 3px; margin-right: 4px; vertical-align: middle; }
`;

/**
 * The browser script: polls the JSON API, keeps a short history per pool and of errors by kind,
 * draws charts with axes and units, and fills the sortable operations table, the sharding panels
 * and the slow-query list.
 */
export const DASHBOARD_JS = `'use strict';
(() => {
  const refreshMs = Number(document.body.dataset.refreshMs) || 1000;
  const HISTORY = 300;
  const history = new Map();
  const errorHistory = [];
  let lastErrors;
  const KINDS = ['timeout', 'connection', 'query', 'circuitOpen', 'pool', 'aborted'];
  const KIND_COLORS = { timeout: '#e07b00', connection: '#c62828', query: '#3b6fd8', circuitOpen: '#7b3fb5', pool: '#c9a400', aborted: '#6a7386' };
  const root = document.getElementById('pools');
  const updated = document.getElementById('updated');
  const opsBody = document.querySelector('#operations tbody');
  const slowBody = document.querySelector('#slow tbody');
  const SVG = 'http://www.w3.org/2000/svg';
  let sortKey = 'p99Ms';
  let sortDir = -1;
  let lastBody;

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  };
  const svgEl = (tag, attrs, text) => {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    if (text !== undefined) node.textContent = String(text);
    return node;
  };
  const pct = (x) => (x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1) + ' %';
  const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(0)) + ' ms';
  const num = (x) => (x === null || x === undefined ? '–' : x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0));
  const ago = (msAgo) => (msAgo < 1000 ? 'now' : msAgo < 120000 ? '-' + Math.round(msAgo / 1000) + ' s' : '-' + Math.round(msAgo / 60000) + ' min');

  /**
   * A line chart with a y axis (0 and the top, in the unit) and a time axis (age of the oldest
   * point, now). series: [{ values: number[], color }], times: epoch ms of each point.
   */
  function chart(times, series, format, floor, width, height) {
    const left = 34, bottom = 12, top = 6, right = 4;
    const svg = svgEl('svg', { viewBox: '0 0 ' + width + ' ' + height, class: 'axes', role: 'img' });
    const max = Math.max(floor, ...series.flatMap((s) => s.values));
    const plotW = width - left - right, plotH = height - top - bottom;
    svg.append(
      svgEl('line', { class: 'axis', x1: left, y1: top, x2: left, y2: top + plotH }),
      svgEl('line', { class: 'axis', x1: left, y1: top + plotH, x2: left + plotW, y2: top + plotH }),
      svgEl('text', { x: left - 3, y: top + 7, 'text-anchor': 'end', 'data-axis': 'y-max' }, format(max)),
      svgEl('text', { x: left - 3, y: top + plotH, 'text-anchor': 'end', 'data-axis': 'y-min' }, format(0)),
      svgEl('text', { x: left, y: height - 1, 'text-anchor': 'start', 'data-axis': 'x-start' }, times.length > 0 ? ago(Date.now() - times[0]) : ''),
      svgEl('text', { x: left + plotW, y: height - 1, 'text-anchor': 'end', 'data-axis': 'x-end' }, 'now'),
    );
    const n = Math.max(times.length - 1, 1);
    for (const s of series) {
      const points = s.values.map((v, i) => (left + (i / n) * plotW).toFixed(1) + ',' + (top + plotH - (v / max) * plotH).toFixed(1)).join(' ');
      svg.append(svgEl('polyline', { points, stroke: s.color }));
    }
    return svg;
  }

  function record(pool, now) {
    let h = history.get(pool.hash);
    if (!h) { h = { points: [], last: undefined }; history.set(pool.hash, h); }
    const attempts = pool.acquisitions + pool.acquisitionTimeouts;
    let waitMs = 0;
    if (h.last && attempts > h.last.attempts) waitMs = (pool.totalWaitMs - h.last.totalWaitMs) / (attempts - h.last.attempts);
    h.last = { attempts, totalWaitMs: pool.totalWaitMs };
    h.points.push({ t: now, rate: pool.scaling.timeoutRate, util: pool.utilisation, wait: waitMs });
    if (h.points.length > HISTORY) h.points.shift();
    return h.points;
  }

  /** Errors of every pool by kind per second since the previous poll (the first poll counts as none). */
  function recordErrors(pools, now) {
    const totals = {};
    for (const kind of KINDS) totals[kind] = pools.reduce((sum, p) => sum + (p.errorsByCategory[kind] || 0), 0);
    const point = { t: now };
    const previous = errorHistory[errorHistory.length - 1];
    const seconds = previous ? Math.max(0.001, (now - previous.t) / 1000) : 1;
    for (const kind of KINDS) point[kind] = lastErrors ? Math.max(0, totals[kind] - lastErrors[kind]) / seconds : 0;
    lastErrors = totals;
    errorHistory.push(point);
    if (errorHistory.length > HISTORY) errorHistory.shift();
  }

  function sparkline(points, key, cls, caption, format, floor) {
    const fig = el('figure', 'chart ' + cls);
    fig.dataset.chart = cls;
    fig.append(el('figcaption', '', caption));
    fig.append(chart(points.map((p) => p.t), [{ values: points.map((p) => p[key]), color: 'currentColor' }], format, floor, 140, 90));
    return fig;
  }

  function field(dl, label, name, value) {
    const pair = el('div');
    const dd = el('dd', '', value);
    dd.dataset.field = name;
    pair.append(el('dt', '', label), dd);
    dl.append(pair);
  }

  function card(pool, points) {
    const c = el('section', 'pool');
    c.dataset.pool = pool.name;
    const title = el('h2', '', pool.name);
    title.dataset.field = 'alias';
    const badge = el('span', 'badge ' + pool.scaling.level, pool.scaling.level);
    badge.dataset.field = 'level';
    c.append(badge, title, el('span', 'system', pool.system));
    const advice = el('p', 'advice', pool.scaling.advice);
    advice.dataset.field = 'advice';
    c.append(advice);
    const bar = el('div', 'bar');
    const fill = el('div', pool.scaling.level);
    fill.style.width = Math.min(100, pool.utilisation * 100).toFixed(1) + '%';
    bar.append(fill);
    c.append(bar);
    const dl = el('dl');
    field(dl, 'utilisation', 'utilisation', pct(pool.utilisation));
    field(dl, 'in use / max', 'in-use', pool.sizes.inUse + ' / ' + pool.sizes.max);
    field(dl, 'idle / pending', 'idle-pending', pool.sizes.idle + ' / ' + pool.sizes.pending);
    field(dl, 'timeout rate', 'timeout-rate', pct(pool.scaling.timeoutRate));
    field(dl, 'timeouts / acquisitions', 'timeouts', pool.acquisitionTimeouts + ' / ' + pool.acquisitions);
    field(dl, 'avg wait / max wait', 'wait', ms(pool.avgWaitMs) + ' / ' + ms(pool.maxWaitMs));
    field(dl, 'queries / errors', 'queries', pool.queries + ' / ' + pool.queryErrors);
    field(dl, 'circuit', 'circuit', pool.circuit ? pool.circuit.state : 'n/a');
    field(dl, 'healthy', 'healthy', pool.healthy === null ? 'unknown' : pool.healthy ? 'yes' : 'no');
    field(dl, 'server connections', 'server', pool.capacity ? pool.capacity.serverConnections + ' / ' + pool.capacity.serverMaxConnections : 'n/a');
    field(dl, 'room for instances', 'instances', pool.capacity ? '+' + pool.capacity.additionalInstances : 'n/a');
    field(dl, 'errors by kind', 'errors', Object.entries(pool.errorsByCategory).filter(([, n]) => n > 0).map(([k, n]) => k + ' ' + n).join(', ') || 'none');
    c.append(dl);
    if (pool.nodes && pool.nodes.length > 0) c.append(nodeTable(pool.nodes));
    const charts = el('div', 'charts');
    charts.append(
      sparkline(points, 'rate', 'rate', 'timeout rate (%)', (x) => (x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1) + '%', 0.001),
      sparkline(points, 'util', 'util', 'utilisation (%)', (x) => (x * 100).toFixed(0) + '%', 1),
      sparkline(points, 'wait', 'wait', 'avg wait (ms)', (x) => num(x) + ' ms', 1),
    );
    c.append(charts);
    return c;
  }

  function emptyRow(text, columns) {
    const tr = el('tr', 'empty');
    const td = el('td', '', text);
    td.colSpan = columns;
    tr.append(td);
    return tr;
  }

  function operationRows(pools) {
    return pools.flatMap((pool) => pool.operations.map((op) => ({ pool: pool.name, ...op })));
  }

  function renderOperations() {
    if (!lastBody) return;
    const rows = operationRows(lastBody.pools);
    rows.sort((a, b) => {
      const x = a[sortKey], y = b[sortKey];
      if (x === y) return 0;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (typeof x === 'string' ? x.localeCompare(y) : x - y) * sortDir;
    });
    if (rows.length === 0) return opsBody.replaceChildren(emptyRow('No statements yet.', 8));
    opsBody.replaceChildren(...rows.map((r) => {
      const tr = el('tr');
      tr.dataset.operation = r.operation;
      const cells = [['pool', r.pool], ['operation', r.operation], ['count', r.count], ['errors', r.errors], ['avg', num(r.avgMs)], ['p50', num(r.p50Ms)], ['p95', num(r.p95Ms)], ['p99', num(r.p99Ms)]];
      for (const [name, value] of cells) {
        const td = el('td', '', value);
        td.dataset.field = name;
        tr.append(td);
      }
      return tr;
    }));
  }

  for (const th of document.querySelectorAll('#operations th[data-sort]')) {
    th.addEventListener('click', () => {
      const key = th.dataset.sort;
      sortDir = key === sortKey ? -sortDir : th.dataset.type === 'text' ? 1 : -1;
      sortKey = key;
      for (const other of document.querySelectorAll('#operations th[data-sort]')) other.removeAttribute('aria-sort');
      th.setAttribute('aria-sort', sortDir === 1 ? 'ascending' : 'descending');
      renderOperations();
    });
  }

  function renderSlow(list) {
    if (list.length === 0) return slowBody.replaceChildren(emptyRow('No slow queries.', 7));
    slowBody.replaceChildren(...list.map((q) => {
      const tr = el('tr');
      const tags = q.tags ? Object.entries(q.tags).map(([k, v]) => k + '=' + v).join(', ') : '';
      const cells = [['time', new Date(q.at).toLocaleTimeString(), ''], ['pool', q.pool, ''], ['duration', ms(q.durationMs), ''], ['sql', q.sql, 'sql'], ['params', q.params, ''], ['tags', tags, ''], ['error', q.error || '', '']];
      for (const [name, value, cls] of cells) {
        const td = el('td', cls, value);
        td.dataset.field = name;
        tr.append(td);
      }
      return tr;
    }));
  }

  function renderErrors() {
    const box = document.getElementById('errors-chart');
    const times = errorHistory.map((p) => p.t);
    const series = KINDS.map((kind) => ({ values: errorHistory.map((p) => p[kind]), color: KIND_COLORS[kind] }));
    box.replaceChildren(chart(times, series, (x) => num(x) + '/s', 1, 300, 130));
    const legend = document.getElementById('errors-legend');
    legend.replaceChildren(...KINDS.map((kind) => {
      const span = el('span');
      span.dataset.kind = kind;
      const swatch = el('i');
      swatch.style.background = KIND_COLORS[kind];
      span.append(swatch, kind + ' ' + (lastErrors ? lastErrors[kind] : 0));
      return span;
    }));
  }

  /** Shard numbers as ranges: [0, 1, 2, 5] -> '0-2, 5'. */
  function ranges(list) {
    const out = [];
    for (let i = 0; i < list.length; i++) {
      let j = i;
      while (j + 1 < list.length && list[j + 1] === list[j] + 1) j++;
      out.push(i === j ? String(list[i]) : list[i] + '-' + list[j]);
      i = j;
    }
    return out.join(', ') || 'none';
  }

  function table(cls, headings, rows) {
    const t = el('table', cls);
    const head = el('tr');
    for (const h of headings) head.append(el('th', '', h));
    const thead = el('thead');
    thead.append(head);
    const tbody = el('tbody');
    tbody.append(...rows);
    t.append(thead, tbody);
    return t;
  }

  function row(cells, data, cls) {
    const tr = el('tr', cls);
    Object.assign(tr.dataset, data);
    for (const [name, value] of cells) {
      const td = el('td', '', value);
      td.dataset.field = name;
      tr.append(td);
    }
    return tr;
  }

  /** The servers of a pool with read replicas: role, health, where writes go, lag and reads. */
  function nodeTable(nodes) {
    const lag = (n) => {
      if (n.writer) return '–';
      const parts = [];
      if (n.lagMs !== undefined) parts.push(ms(n.lagMs));
      if (n.lagBytes !== undefined) parts.push(n.lagBytes + ' B');
      if (n.lagTransactions !== undefined) parts.push(n.lagTransactions + ' tx');
      return parts.join(' · ') || 'unknown';
    };
    return table('replica-nodes', ['server', 'role', 'healthy', 'writes', 'lag', 'reads'], nodes.map((n) => {
      const name = n.host + ':' + (n.port === undefined ? 'default' : n.port);
      return row([['node', name], ['role', n.role], ['healthy', n.healthy ? 'yes' : 'no'], ['writer', n.writer ? 'here' : ''], ['lag', lag(n)], ['reads', n.reads]], { node: name }, n.healthy ? '' : 'failing');
    }));
  }

  /** One panel per sharding source: its physical databases and its logical shards. */
  function renderShardings(list) {
    const box = document.getElementById('shardings');
    box.replaceChildren(...list.map((s) => {
      const panel = el('article', 'panel sharding');
      panel.dataset.sharding = s.name;
      const title = el('h2', '', s.name);
      title.dataset.field = 'sharding';
      const summary = el('p', 'hint', 'shard map version ' + s.version + ' · ' + s.logicalShards + ' logical shards on ' + s.databases.filter((d) => d.shards.length > 0).length + ' databases');
      summary.dataset.field = 'summary';
      const databases = table('shard-databases', ['database', 'backend', 'logical shards', 'requests', 'errors'], s.databases.map((d) =>
        row([['database', d.name], ['backend', d.backend], ['shards', ranges(d.shards)], ['requests', d.requests], ['errors', d.errors]], { database: d.name }, d.errors > 0 ? 'failing' : '')));
      const shards = table('shard-list', ['shard', 'database', 'state', 'in flight', 'requests', 'errors'], s.shards.map((x) =>
        row([['shard', x.shard], ['database', x.database], ['state', x.state], ['in-flight', x.inFlight], ['requests', x.requests], ['errors', x.errors]], { shard: String(x.shard) }, (x.state === 'frozen' ? 'frozen ' : '') + (x.errors > 0 ? 'failing' : ''))));
      const scroll = el('div', 'scroll');
      scroll.append(shards);
      const tables = el('div', 'tables');
      tables.append(databases, scroll);
      panel.append(title, summary, tables);
      return panel;
    }));
  }

  async function tick() {
    try {
      const res = await fetch('api/pools', { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const body = await res.json();
      const now = Date.now();
      lastBody = body;
      const cards = body.pools.map((pool) => card(pool, record(pool, now)));
      if (cards.length === 0) root.replaceChildren(el('p', 'empty', 'No pools open yet.'));
      else root.replaceChildren(...cards);
      recordErrors(body.pools, now);
      renderOperations();
      renderShardings(body.shardings || []);
      renderSlow(body.slowQueries);
      renderErrors();
      updated.textContent = 'updated ' + new Date(body.generatedAt).toLocaleTimeString() + ' · every ' + refreshMs + ' ms';
      document.body.dataset.ready = 'true';
    } catch (error) {
      updated.textContent = 'refresh failed: ' + error.message;
    } finally {
      setTimeout(tick, refreshMs);
    }
  }
  tick();
})();
`;
