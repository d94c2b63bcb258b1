import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatabaseConfig, PoolTimeoutError, type Database, type DatabaseConfigOptions } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { SqliteDatabase } from '@dal/driver-sqlite';
import { mysqlUrl, postgresUrl } from '@dal/test-utils';
import { context, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { registerOtelTracing, type OtelTracingRegistration } from '../src/index.js';
import { tempDir } from './helpers.js';

const exporter = new InMemorySpanExporter();
const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
const tracer = provider.getTracer('test');
const contextManager = new AsyncLocalStorageContextManager();
const tmp = tempDir('metrics-tracing-');
let tracing: OtelTracingRegistration;

beforeAll(() => {
  context.setGlobalContextManager(contextManager.enable());
  tracing = registerOtelTracing(provider);
});

afterAll(async () => {
  tracing.unregister();
  context.disable();
  await provider.shutdown();
  tmp.cleanup();
});

beforeEach(() => exporter.reset());

/** Run `fn` under a parent span named `request` and return that span's id. */
async function underRequest(fn: () => Promise<unknown>): Promise<{ spanId: string; traceId: string; error: unknown }> {
  return tracer.startActiveSpan('request', async (span) => {
    let error: unknown;
    try {
      await fn();
    } catch (e) {
      error = e;
    } finally {
      span.end();
    }
    return { ...span.spanContext(), error };
  });
}

const spans = (): ReadableSpan[] => exporter.getFinishedSpans();
const named = (name: string): ReadableSpan[] => spans().filter((s) => s.name === name);
const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId;

interface Backend {
  name: string;
  system: string;
  server: { address: string; port: number } | undefined;
  sleepSql: string;
  open(alias: string, options?: Partial<DatabaseConfigOptions>, logged?: Array<Record<string, unknown>>): Database;
}

function fromUrl(Ctor: typeof PostgresDatabase | typeof MysqlDatabase, url: string) {
  return (alias: string, options: Partial<DatabaseConfigOptions> = {}, logged: Array<Record<string, unknown>> = []): Database =>
    new Ctor(DatabaseConfig.fromUrl(url, { alias, ...options }), { logger: { warn: (data) => logged.push(data) } });
}

const BACKENDS: Backend[] = [
  { name: 'PostgreSQL', system: 'postgresql', server: { address: new URL(postgresUrl()).hostname, port: Number(new URL(postgresUrl()).port || 5432) }, sleepSql: 'SELECT pg_sleep(0.3)', open: fromUrl(PostgresDatabase, postgresUrl()) },
  { name: 'MariaDB', system: 'mysql', server: { address: new URL(mysqlUrl()).hostname, port: Number(new URL(mysqlUrl()).port || 3306) }, sleepSql: 'SELECT SLEEP(0.3)', open: fromUrl(MysqlDatabase, mysqlUrl()) },
  {
    name: 'SQLite',
    system: 'sqlite',
    server: undefined,
    sleepSql: 'SELECT 1',
    open: (alias, options = {}, logged = []) => new SqliteDatabase(new DatabaseConfig({ database: tmp.file(`${alias}.db`), alias, ...options }), { logger: { warn: (data) => logged.push(data) } }),
  },
];

describe.each(BACKENDS)('registerOtelTracing on $name', (backend) => {
  const table = `trace_items_${backend.system}`;
  let db: Database;

  beforeAll(async () => {
    db = backend.open(`tracing_${backend.system}`);
    await db.execute(`DROP TABLE IF EXISTS [${table}]`);
    await db.execute(`CREATE TABLE [${table}] ([id] INTEGER PRIMARY KEY, [name] VARCHAR(40) NOT NULL)`);
  });

  afterAll(async () => {
    await db?.execute(`DROP TABLE IF EXISTS [${table}]`).catch(() => undefined);
    await db?.close();
  });

  it('makes one CLIENT span per statement, a child of the active span, with the semantic-convention attributes', async () => {
    const request = await underRequest(() => db.execute(`INSERT INTO [${table}] ([id], [name]) VALUES (?, ?)`, [1, 'secret-value-42'], { tags: { operation: 'add_item' } }));
    expect(request.error).toBeUndefined();
    const [span, ...others] = named(`INSERT ${table}`);
    expect(others).toEqual([]);
    expect(span!.kind).toBe(SpanKind.CLIENT);
    expect(span!.spanContext().traceId).toBe(request.traceId);
    expect(parentOf(span!)).toBe(request.spanId);
    const expected: Record<string, unknown> = {
      'db.system.name': backend.system,
      'db.namespace': db.config.database,
      'db.operation.name': 'INSERT',
      'db.collection.name': table,
      'dal.tag.operation': 'add_item',
    };
    if (backend.server !== undefined) Object.assign(expected, { 'server.address': backend.server.address, 'server.port': backend.server.port });
    expect(span!.attributes).toMatchObject(expected);
    if (backend.server === undefined) expect(span!.attributes).not.toHaveProperty('server.address');
    const text = String(span!.attributes['db.query.text']);
    expect(text).toMatch(new RegExp(`^INSERT INTO .${table}. \\(.id., .name.\\) VALUES \\((\\?|\\$1), (\\?|\\$2)\\)$`));
    expect(JSON.stringify(spans().map((s) => s.attributes))).not.toContain('secret-value-42');
    expect(span!.status.code).toBe(SpanStatusCode.UNSET);
  });

  it('marks a failed statement with error.type and the status code, and still ends its span', async () => {
    await db.execute(`DELETE FROM [${table}]`);
    await db.execute(`INSERT INTO [${table}] ([id], [name]) VALUES (?, ?)`, [7, 'a']);
    exporter.reset();
    const request = await underRequest(() => db.execute(`INSERT INTO [${table}] ([id], [name]) VALUES (?, ?)`, [7, 'b']));
    expect(request.error).toMatchObject({ name: 'UniqueViolationError' });
    const span = named(`INSERT ${table}`)[0]!;
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.attributes['error.type']).toBe('UniqueViolationError');
    expect(span.attributes['dal.error.code']).toBe('DAL_UNIQUE_VIOLATION');
    if (backend.system === 'postgresql') expect(span.attributes['db.response.status_code']).toBe('23505');
    expect(span.events.map((e) => e.name)).toContain('exception');
  });

  it('wraps a transaction in a span whose children are BEGIN, the statements and COMMIT', async () => {
    await db.execute(`DELETE FROM [${table}]`);
    exporter.reset();
    const request = await underRequest(() =>
      db.withConnection((conn) =>
        conn.transaction(async (tx) => {
          await tx.execute(`INSERT INTO [${table}] ([id], [name]) VALUES (?, ?)`, [2, 'two']);
          await tx.execute(`SELECT [name] FROM [${table}] WHERE [id] = ?`, [2]);
        }),
      ),
    );
    expect(request.error).toBeUndefined();
    const [transaction] = named('transaction');
    expect(transaction).toBeDefined();
    expect(parentOf(transaction!)).toBe(request.spanId);
    const children = spans().filter((s) => parentOf(s) === transaction!.spanContext().spanId);
    const operations = children.map((s) => s.attributes['db.operation.name']);
    expect(operations.slice(-3)).toEqual(['INSERT', 'SELECT', 'COMMIT']);
    expect(operations.length).toBeGreaterThan(3);
    for (const begin of operations.slice(0, -3)) expect(['BEGIN', 'START', 'SET']).toContain(begin);
    expect(children.every((s) => s.kind === SpanKind.CLIENT)).toBe(true);
  });

  it('makes an acquire-connection span for a wait, and marks a pool timeout', async () => {
    const small = backend.open(`tracing_wait_${backend.system}`, { poolMin: 1, poolMax: 1, connectionAcquisitionTimeoutMs: 300 });
    try {
      await small.execute('SELECT 1');
      const held = await small.connection();
      exporter.reset();
      const waited = underRequest(() => small.execute('SELECT 2'));
      await new Promise((r) => setTimeout(r, 50));
      await held.release();
      const request = await waited;
      expect(request.error).toBeUndefined();
      const [acquire] = named('acquire connection');
      expect(acquire).toBeDefined();
      expect(parentOf(acquire!)).toBe(request.spanId);
      expect(acquire!.attributes).toMatchObject({ 'db.system.name': backend.system, 'db.client.connection.pool.name': small.alias });
      expect(acquire!.status.code).toBe(SpanStatusCode.UNSET);

      const blocker = await small.connection();
      exporter.reset();
      const timedOut = await underRequest(() => small.execute('SELECT 3'));
      await blocker.release();
      expect(timedOut.error).toBeInstanceOf(PoolTimeoutError);
      const failed = named('acquire connection')[0]!;
      expect(failed.status.code).toBe(SpanStatusCode.ERROR);
      expect(failed.attributes['error.type']).toBe('PoolTimeoutError');
    } finally {
      await small.close();
    }
  });

  it('puts the statement span’s trace id and span id in the slow-query log entry', async () => {
    const logged: Array<Record<string, unknown>> = [];
    const slow = backend.open(`tracing_slow_${backend.system}`, { slowQueryThresholdMs: backend.server === undefined ? 0.0001 : 100 }, logged);
    try {
      const request = await underRequest(() => slow.execute(backend.sleepSql));
      expect(request.error).toBeUndefined();
      const statement = spans().find((s) => s.kind === SpanKind.CLIENT && parentOf(s) === request.spanId)!;
      const entry = logged.find((e) => e['sql'] === backend.sleepSql);
      expect(entry).toMatchObject({ trace_id: request.traceId, span_id: statement.spanContext().spanId, trace_flags: '01' });
    } finally {
      await slow.close();
    }
  });

  it('makes no span once unregistered, and again after registering', async () => {
    tracing.unregister();
    try {
      await underRequest(() => db.execute('SELECT 1'));
      expect(spans().map((s) => s.name)).toEqual(['request']);
    } finally {
      tracing = registerOtelTracing(provider);
    }
    expect(registerOtelTracing(provider)).toBe(tracing);
    await db.execute('SELECT 1');
    expect(spans().filter((s) => s.kind === SpanKind.CLIENT)).toHaveLength(1);
  });
});

describe('registerOtelTracing loading', () => {
  it('loads no OpenTelemetry module of its own until it is called (prom-client loads the API for exemplars)', () => {
    // The built CommonJS entry in a fresh process: what does requiring @dal/metrics load beyond prom-client?
    const dir = join(dirname(fileURLToPath(import.meta.url)), '..');
    const script = `const otel = () => Object.keys(require.cache).filter((f) => f.includes('@opentelemetry')).sort();
      require('prom-client');
      const promClient = otel();
      const metrics = require('./dist/index.cjs');
      const loaded = otel().filter((f) => !promClient.includes(f));
      const { BasicTracerProvider } = require('@opentelemetry/sdk-trace-base');
      metrics.registerOtelTracing(new BasicTracerProvider()).unregister();
      console.log(JSON.stringify({ loaded, registered: true }));`;
    const out = execFileSync(process.execPath, ['-e', script], { cwd: dir, encoding: 'utf8' });
    expect(JSON.parse(out)).toEqual({ loaded: [], registered: true });
  });
});
