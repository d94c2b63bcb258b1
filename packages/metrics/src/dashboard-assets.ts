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
`;

/** The browser script: polls the JSON API, keeps a short history per pool, draws sparklines. */
export const DASHBOARD_JS = `'use strict';
(() => {
  const refreshMs = Number(document.body.dataset.refreshMs) || 1000;
  const HISTORY = 300;
  const history = new Map();
  const root = document.getElementById('pools');
  const updated = document.getElementById('updated');
  const SVG = 'http://www.w3.org/2000/svg';

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = String(text);
    return node;
  };
  const pct = (x) => (x * 100).toFixed(x > 0 && x < 0.01 ? 2 : 1) + ' %';
  const ms = (x) => (x < 10 ? x.toFixed(2) : x.toFixed(0)) + ' ms';

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

  function sparkline(points, key, cls, caption, floor) {
    const fig = el('figure', 'chart ' + cls);
    fig.append(el('figcaption', '', caption));
    const svg = document.createElementNS(SVG, 'svg');
    svg.setAttribute('viewBox', '0 0 100 40');
    svg.setAttribute('preserveAspectRatio', 'none');
    const top = Math.max(floor, ...points.map((p) => p[key]));
    const line = document.createElementNS(SVG, 'polyline');
    const n = Math.max(points.length - 1, 1);
    line.setAttribute('points', points.map((p, i) => (i / n * 100).toFixed(2) + ',' + (38 - p[key] / top * 36).toFixed(2)).join(' '));
    svg.append(line);
    fig.append(svg);
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
    const charts = el('div', 'charts');
    charts.append(
      sparkline(points, 'rate', 'rate', 'timeout rate', 0.001),
      sparkline(points, 'util', 'util', 'utilisation', 1),
      sparkline(points, 'wait', 'wait', 'avg wait (ms)', 1),
    );
    c.append(charts);
    return c;
  }

  async function tick() {
    try {
      const res = await fetch('api/pools', { cache: 'no-store' });
      if (!res.ok) throw new Error('HTTP ' + res.status);
      const body = await res.json();
      const now = Date.now();
      const cards = body.pools.map((pool) => card(pool, record(pool, now)));
      if (cards.length === 0) root.replaceChildren(el('p', 'empty', 'No pools open yet.'));
      else root.replaceChildren(...cards);
      updated.textContent = 'updated ' + new Date(body.generatedAt).toLocaleTimeString();
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
