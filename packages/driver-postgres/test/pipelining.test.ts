import { ConnectionError, PoolManager, TransactionError, type Database, type DatabaseConfigOptions } from '@dal/core';
import { FaultProxy } from '@dal/test-utils';
import type pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresDatabase } from '../src/index.js';
import { rawClient, testConfig, waitFor } from './helpers.js';

// Issue #16: the pool shortcuts pipeline autocommit statements on shared connections, and every
// guarantee of a statement holds for each one in a pipeline.
const TABLE = `pipelining_${process.pid}`;
const PID = 'SELECT pg_backend_pid() AS pid';

let admin: pg.Client;
const opened: Database[] = [];
let counter = 0;

/** A database of its own (a pool of its own), closed after the test. */
function database(overrides: Partial<DatabaseConfigOptions> = {}): Database {
  const db = new PostgresDatabase(testConfig({ alias: `pipe_${process.pid}_${++counter}`, poolMin: 1, poolMax: 1, ...overrides }));
  opened.push(db);
  return db;
}

async function rowsInTable(): Promise<number[]> {
  return (await admin.query<{ n: number }>(`SELECT n FROM ${TABLE} ORDER BY n`)).rows.map((r) => r.n);
}

/** How each promise settled: the value, or the error's class name. */
async function outcomes(promises: Promise<unknown>[]): Promise<unknown[]> {
  const settled = await Promise.allSettled(promises);
  return settled.map((s) => (s.status === 'fulfilled' ? s.value : (s.reason as Error).name));
}

beforeAll(async () => {
  admin = await rawClient();
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.query(`CREATE TABLE ${TABLE} (n integer)`);
});

afterEach(async () => {
  await Promise.all(opened.splice(0).map((db) => db.close({ timeoutMs: 1_000 })));
  await admin.query(`TRUNCATE ${TABLE}`);
});

afterAll(async () => {
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.end();
});

describe('pipelining on the pool shortcuts', () => {
  it('sends a statement behind one in flight instead of waiting for a connection; pipelining: false waits', async () => {
    for (const pipelining of [true, false]) {
      const db = database({ pipelining });
      await db.execute('SELECT 1');
      const slow = db.execute('SELECT pg_sleep(0.3)');
      const next = db.executeFirst<{ n: number }>('SELECT 2 AS n');
      await new Promise((resolve) => setTimeout(resolve, 100));
      const { sizes } = PoolManager.getPoolStatus(db.config.hash())!;
      expect({ pipelining, pending: sizes.pending, inUse: sizes.inUse }).toEqual({ pipelining, pending: pipelining ? 0 : 1, inUse: 1 });
      await slow;
      expect(await next).toEqual({ n: 2 });
    }
  });

  it('puts each statement on the connection with the fewest in flight', async () => {
    const db = database({ poolMin: 2, poolMax: 2 });
    await Promise.all([db.execute('SELECT 1'), db.withConnection((c) => c.execute('SELECT 1'))]);
    expect(PoolManager.getPoolStatus(db.config.hash())!.sizes.size).toBe(2);
    const rows = await Promise.all(Array.from({ length: 10 }, () => db.executeFirst<{ pid: number }>(PID)));
    const perBackend = new Map<number, number>();
    for (const row of rows) perBackend.set(row!.pid, (perBackend.get(row!.pid) ?? 0) + 1);
    expect([...perBackend.values()]).toEqual([5, 5]);
  });

  it('an error fails only its own statement', async () => {
    const db = database();
    await db.execute('SELECT 1');
    const results = await outcomes([
      db.executeFirst('SELECT 1 AS a'),
      db.executeFirst('SELECT * FROM no_such_table_here'),
      db.executeFirst('SELECT ?::int / 0 AS b', [1]),
      db.executeFirst('SELECT 3 AS c'),
    ]);
    expect(results).toEqual([{ a: 1 }, 'QueryError', 'QueryError', { c: 3 }]);
  });

  it('a timeout stops the running statement and no other', async () => {
    const db = database();
    await db.execute('SELECT 1');
    const started = performance.now();
    const results = await outcomes([db.execute('SELECT pg_sleep(5)', [], { timeoutMs: 300 }), db.executeFirst('SELECT 2 AS n')]);
    expect(results).toEqual(['QueryTimeoutError', { n: 2 }]);
    expect(performance.now() - started).toBeLessThan(2_500);
  });

  it('a statement timed out while queued behind another is cancelled when it runs, and the one ahead is not', async () => {
    const db = database();
    await db.execute('SELECT 1');
    const started = performance.now();
    const ahead = db.executeFirst<{ done: number }>('SELECT 1 AS done FROM pg_sleep(0.6)');
    const queued = db.execute('SELECT pg_sleep(10)', [], { timeoutMs: 200 });
    const behind = db.executeFirst<{ n: number }>('SELECT 3 AS n');
    expect(await outcomes([ahead, queued, behind])).toEqual([{ done: 1 }, 'QueryTimeoutError', { n: 3 }]);
    // The 10 s sleep was cancelled once it ran, rather than holding up the statement behind it.
    expect(performance.now() - started).toBeLessThan(3_000);
  });

  it('raises the session statement_timeout ahead of a pipelined statement with a longer timeout', async () => {
    const db = database();
    await db.execute('SELECT 1');
    const before = db.executeFirst<{ statement_timeout: string }>('SHOW statement_timeout');
    const raised = db.executeFirst<{ statement_timeout: string }>('SHOW statement_timeout', [], { timeoutMs: 120_000 });
    expect([await before, await raised]).toEqual([{ statement_timeout: '61s' }, { statement_timeout: '121s' }]);
  });

  it('a statement whose signal aborts before it was sent is never sent', async () => {
    const db = database();
    await db.execute('SELECT 1');
    const controller = new AbortController();
    const aborted = db.execute(`INSERT INTO ${TABLE} (n) VALUES (1)`, [], { signal: controller.signal });
    controller.abort();
    const kept = db.execute(`INSERT INTO ${TABLE} (n) VALUES (2)`);
    expect(await outcomes([aborted, kept])).toEqual(['AbortedError', []]);
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await rowsInTable()).toEqual([2]);
  });

  it('a broken connection fails every statement in flight with ConnectionError, none re-run unless idempotent', async () => {
    const db = database();
    const { pid } = (await db.executeFirst<{ pid: number }>(PID))!;
    const inFlight = [
      db.execute('SELECT pg_sleep(5)'),
      db.execute(`INSERT INTO ${TABLE} (n) VALUES (1)`),
      db.execute(`INSERT INTO ${TABLE} (n) VALUES (2)`, [], { idempotent: true }),
    ];
    await waitFor(async () => (await admin.query(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND query LIKE '%pg_sleep%'`, [pid])).rowCount === 1);
    await admin.query('SELECT pg_terminate_backend($1)', [pid]);
    const results = await Promise.allSettled(inFlight);
    expect(results[0]?.status === 'rejected' && results[0].reason instanceof ConnectionError).toBe(true);
    expect(results[1]?.status === 'rejected' && results[1].reason instanceof ConnectionError).toBe(true);
    expect(results[2]!.status).toBe('fulfilled');
    expect(await rowsInTable()).toEqual([2]);
    expect(await db.executeFirst('SELECT 4 AS n')).toEqual({ n: 4 });
  });

  it('a cancel that cannot get through (blackholed link) ends the session within the grace, so no slot stays taken', async () => {
    const proxy = await FaultProxy.start({ targetHost: '127.0.0.1', targetPort: 5432 });
    try {
      const db = database({ host: proxy.host, port: proxy.port, retry: false, circuitBreaker: false });
      await db.execute('SELECT 1');
      const inFlight = [db.execute('SELECT pg_sleep(5)', [], { timeoutMs: 400 }), db.execute('SELECT 1', [], { timeoutMs: 600 })];
      await new Promise((resolve) => setTimeout(resolve, 100));
      await proxy.setMode('blackhole');
      expect(await outcomes(inFlight)).toEqual(['QueryTimeoutError', 'QueryTimeoutError']);
      expect(await waitFor(() => PoolManager.getPoolStatus(db.config.hash())!.sizes.inUse === 0, 4_000)).toBe(true);
    } finally {
      await proxy.close();
    }
  });

  it('closing the pool settles every statement in flight: a result or PoolClosedError', async () => {
    const db = database();
    await db.execute('SELECT 1');
    const inFlight = [db.execute('SELECT pg_sleep(5)'), db.executeFirst('SELECT 1 AS n')];
    await new Promise((resolve) => setTimeout(resolve, 50));
    await db.close({ timeoutMs: 100 });
    const results = await Promise.race([outcomes(inFlight), new Promise((resolve) => setTimeout(resolve, 3_000, 'hung'))]);
    expect(results).toEqual(['PoolClosedError', 'PoolClosedError']);
  });

  it('a statement does not queue behind one past the slow-query threshold while another connection can take it', async () => {
    const db = database({ poolMin: 2, poolMax: 2, slowQueryThresholdMs: 200 });
    await Promise.all([db.execute('SELECT 1'), db.withConnection((c) => c.execute('SELECT 1'))]);
    const stuck = db.executeFirst<{ pid: number }>('SELECT pg_backend_pid() AS pid FROM pg_sleep(1.5)');
    await new Promise((resolve) => setTimeout(resolve, 250));
    const other = db.executeFirst<{ pid: number }>('SELECT pg_backend_pid() AS pid FROM pg_sleep(0.5)');
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Both connections have one statement in flight; the first has run past the threshold.
    const next = db.executeFirst<{ pid: number }>(PID);
    const order: string[] = [];
    await Promise.all([stuck.then(() => order.push('stuck')), next.then(() => order.push('next'))]);
    expect(order).toEqual(['next', 'stuck']);
    expect((await next)!.pid).toBe((await other)!.pid);
  });

  it('counts, times and logs each pipelined statement on its own', async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const db = new PostgresDatabase(testConfig({ alias: `pipe_log_${process.pid}`, poolMin: 1, poolMax: 1, slowQueryThresholdMs: 250 }), {
      logger: { warn: (entry: unknown) => warnings.push(entry as Record<string, unknown>) },
    });
    opened.push(db);
    await db.execute('SELECT 1');
    const before = PoolManager.getPoolStatus(db.config.hash())!.metrics.queries;
    await outcomes([
      db.execute('SELECT 1 AS fast', [], { tags: { operation: 'fast' } }),
      db.execute('SELECT nope', [], { tags: { operation: 'broken' } }),
      db.execute('SELECT pg_sleep(0.4) AS slow', [], { tags: { operation: 'slow' } }),
    ]);
    const metrics = PoolManager.getPoolStatus(db.config.hash())!.metrics;
    expect(metrics.queries - before).toBe(3);
    expect(Object.keys(metrics.operations ?? {}).sort()).toEqual(expect.arrayContaining(['broken', 'fast', 'slow']));
    const slow = warnings.filter((w) => w['sql'] !== undefined);
    expect(slow.map((w) => w['sql'])).toEqual(['SELECT pg_sleep(0.4) AS slow']);
  });

  it('a statement that leaves a transaction open ends its session instead of pulling others into it', async () => {
    const db = database();
    await db.execute('SELECT 1');
    const [begin, inserted] = await Promise.allSettled([db.execute('BEGIN'), db.execute(`INSERT INTO ${TABLE} (n) VALUES (6)`)]);
    expect(begin?.status === 'rejected' && begin.reason instanceof TransactionError).toBe(true);
    // The insert ran inside that transaction, which the server rolled back: it is not a success.
    expect(inserted?.status === 'rejected' && inserted.reason instanceof ConnectionError).toBe(true);
    await db.execute(`INSERT INTO ${TABLE} (n) VALUES (7)`);
    expect(await rowsInTable()).toEqual([7]);
  });
});
