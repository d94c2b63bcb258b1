import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ConfigError, onDalEvent, type DalEvent, type ReplicaNodeStatus } from '@dal/core';
import { DASHBOARD_CSS, DASHBOARD_JS, dashboardHtml } from './dashboard-assets.js';
import { histogramQuantile } from './histogram-replay.js';
import { redactSql } from './sql-summary.js';
import { readPools, type PoolView } from './pool-source.js';
import { readShardings, type ShardingSourceStatus } from './sharding-source.js';
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from './prometheus.js';

/** Options of `serveDashboard`. */
export interface DashboardOptions {
  /** Port to listen on; 0 picks a free one (default 0). */
  port?: number;
  /** Interface to bind (default '127.0.0.1': the page is unauthenticated, keep it local). */
  host?: string;
  /** How often the page polls for new numbers (default 1000 ms). */
  refreshMs?: number;
}

/** A running dashboard. */
export interface Dashboard {
  /** Where the page is, e.g. `http://127.0.0.1:41234/`. */
  url: string;
  /** Stop listening and drop open connections. */
  close(): Promise<void>;
}

/** One pool in the dashboard's JSON (`/api/pools`). */
export interface DashboardPool {
  name: string;
  alias: string;
  hash: string;
  dialect: string;
  system: string;
  sizes: PoolView['status']['sizes'];
  utilisation: number;
  healthy: boolean | null;
  scaling: PoolView['status']['scaling'];
  acquisitions: number;
  acquisitionTimeouts: number;
  totalWaitMs: number;
  avgWaitMs: number;
  maxWaitMs: number;
  queries: number;
  queryErrors: number;
  errorsByCategory: PoolView['status']['metrics']['errorsByCategory'];
  circuit: PoolView['status']['circuit'] | null;
  capacity: PoolView['status']['capacity'] | null;
  /** Latency per `tags.operation` (percentiles estimated from core's histogram buckets, in ms). */
  operations: DashboardOperation[];
  /** The primary and replicas of a config with `replicas` (role, health, lag, reads), else empty. */
  nodes: ReplicaNodeStatus[];
}

/** One `tags.operation` of one pool. */
export interface DashboardOperation {
  operation: string;
  count: number;
  errors: number;
  avgMs: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
}

/** One slow statement seen while a dashboard was open (newest first in the JSON). */
export interface DashboardSlowQuery {
  /** Epoch ms. */
  at: number;
  pool: string;
  durationMs: number;
  /** Native SQL with literals redacted; parameter values are never kept. */
  sql: string;
  params: string;
  tags: Readonly<Record<string, unknown>> | null;
  error: string | null;
}

/** One registered sharding source in the dashboard's JSON: its map version, databases and shards. */
export interface DashboardSharding extends ShardingSourceStatus {
  name: string;
}

/** How many slow statements the dashboard keeps. */
const SLOW_QUERIES_KEPT = 20;
const slowQueries: DashboardSlowQuery[] = [];
let openDashboards = 0;
let stopListening: (() => void) | undefined;

function keepSlowQuery(event: DalEvent): void {
  if (event.type !== 'slow-query') return;
  slowQueries.unshift({
    at: event.at,
    pool: event.alias,
    durationMs: event.durationMs,
    sql: redactSql(event.sql),
    params: `[${event.parameterCount} redacted]`,
    tags: event.tags ?? null,
    error: event.errorCode ?? null,
  });
  if (slowQueries.length > SLOW_QUERIES_KEPT) slowQueries.length = SLOW_QUERIES_KEPT;
}

const round = (ms: number | undefined): number | null => (ms === undefined ? null : Math.round(ms * 100) / 100);

/**
 * The `/api/pools` document: every pool of the process as the page shows it, the registered
 * sharding sources, and the last slow statements recorded while a dashboard was open.
 */
export function dashboardSnapshot(): { generatedAt: string; pools: DashboardPool[]; shardings: DashboardSharding[]; slowQueries: DashboardSlowQuery[] } {
  const pools = readPools().map(({ name, system, status }): DashboardPool => {
    const m = status.metrics;
    const attempts = m.acquisitions + m.acquisitionTimeouts;
    return {
      name,
      alias: status.alias,
      hash: status.hash,
      dialect: status.dialect,
      system,
      sizes: status.sizes,
      utilisation: status.utilisation,
      healthy: status.healthy ?? null,
      scaling: status.scaling,
      acquisitions: m.acquisitions,
      acquisitionTimeouts: m.acquisitionTimeouts,
      totalWaitMs: m.totalWaitMs,
      avgWaitMs: attempts === 0 ? 0 : m.totalWaitMs / attempts,
      maxWaitMs: m.maxWaitMs,
      queries: m.queries,
      queryErrors: m.queryErrors,
      errorsByCategory: m.errorsByCategory,
      circuit: status.circuit ?? null,
      capacity: status.capacity ?? null,
      nodes: status.nodes ?? [],
      operations: Object.entries(m.operations).map(([operation, op]) => ({
        operation,
        count: op.count,
        errors: op.errors,
        avgMs: round(op.count === 0 ? 0 : op.totalMs / op.count)!,
        p50Ms: round(histogramQuantile(op.duration, 0.5)),
        p95Ms: round(histogramQuantile(op.duration, 0.95)),
        p99Ms: round(histogramQuantile(op.duration, 0.99)),
      })),
    };
  });
  const shardings = readShardings().map(({ name, status }): DashboardSharding => ({ name, ...status }));
  return { generatedAt: new Date().toISOString(), pools, shardings, slowQueries: [...slowQueries] };
}

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

function send(res: ServerResponse, status: number, type: string, body: string): void {
  res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

async function route(req: IncomingMessage, res: ServerResponse, refreshMs: number): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.setHeader('allow', 'GET, HEAD');
    send(res, 405, 'text/plain; charset=utf-8', 'method not allowed\n');
    return;
  }
  const path = new URL(req.url ?? '/', 'http://dashboard.invalid').pathname;
  switch (path) {
    case '/':
      return send(res, 200, 'text/html; charset=utf-8', dashboardHtml(refreshMs));
    case '/app.js':
      return send(res, 200, 'text/javascript; charset=utf-8', DASHBOARD_JS);
    case '/app.css':
      return send(res, 200, 'text/css; charset=utf-8', DASHBOARD_CSS);
    case '/api/pools':
      return send(res, 200, 'application/json; charset=utf-8', JSON.stringify(dashboardSnapshot()));
    case '/favicon.ico':
      res.writeHead(204, SECURITY_HEADERS);
      res.end();
      return;
    case '/metrics':
      return send(res, 200, PROMETHEUS_CONTENT_TYPE, await prometheusText());
    default:
      return send(res, 404, 'text/plain; charset=utf-8', 'not found\n');
  }
}

/**
 * Serve a live page of every pool (utilisation, wait time, timeout rate over time, current
 * advice), latency per operation (count, p50 / p95 / p99, sortable), the last slow statements
 * (SQL with literals and parameters redacted), errors by kind over time and the registered
 * sharding sources (requests and errors per physical database and per logical shard), with
 * node:http, plus `/api/pools` (JSON) and `/metrics` (Prometheus text).
 *
 * ```ts
 * const page = await serveDashboard({ port: 0 });
 * console.log(page.url);
 * await page.close();
 * ```
 * @throws {ConfigError} when an option is invalid or the server cannot listen (port in use, unknown host).
 */
export async function serveDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const port = options.port ?? 0;
  const host = options.host ?? '127.0.0.1';
  const refreshMs = options.refreshMs ?? 1000;
  if (!Number.isInteger(port) || port < 0 || port > 65_535) throw new ConfigError('serveDashboard: port must be an integer between 0 and 65535');
  if (!Number.isInteger(refreshMs) || refreshMs < 50) throw new ConfigError('serveDashboard: refreshMs must be an integer of at least 50');
  const server = createServer((req, res) => {
    route(req, res, refreshMs).catch(() => {
      if (!res.headersSent) send(res, 500, 'text/plain; charset=utf-8', 'internal error\n');
      else res.destroy();
    });
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => reject(new ConfigError(`serveDashboard: cannot listen on ${host}:${port}`, { cause: error }));
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  if (openDashboards++ === 0) stopListening = onDalEvent(keepSlowQuery);
  const address = server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shownHost}:${address.port}/`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        if (!server.listening) return resolve();
        if (--openDashboards === 0) {
          stopListening?.();
          stopListening = undefined;
          slowQueries.length = 0;
        }
        server.close((error) => (error ? reject(error) : resolve()));
        server.closeAllConnections();
      }),
  };
}
