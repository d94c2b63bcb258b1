import { ConfigError, ConnectionReleasedError, DalError, PoolManager, QueryError, TranslationError, type Database } from '@dal/core';
import { afterAll, beforeAll, describe, expect } from 'vitest';
import { conformanceTest as test, tableName } from '../harness.js';
import type { ConformanceTarget } from '../target.js';

/** Statements, parameters, row modes, translation and connection lifecycle. */
export function querySuite(target: ConformanceTarget): void {
  describe('query', () => {
    let db: Database;
    const table = tableName(target, 'query');
    const { int, varchar } = target.types;

    beforeAll(async () => {
      db = target.createDatabase();
      await db.execute(`DROP TABLE IF EXISTS [${table}]`);
      await db.execute(`CREATE TABLE [${table}] ([id] ${int} PRIMARY KEY, [full name] ${varchar}(100) NOT NULL, [age] ${int})`);
    });
    afterAll(async () => {
      await db.execute(`DROP TABLE IF EXISTS [${table}]`).catch(() => undefined);
      await db.close();
    });

    test(target, 'runs portable SQL with [identifiers] and ? parameters', async () => {
      await db.withConnection(async (conn) => {
        const inserted = await conn.query(`INSERT INTO [${table}] ([id], [full name], [age]) VALUES (?, ?, ?)`, [1, 'Ada Lovelace', 36]);
        expect(inserted.affectedRows).toBe(1);
        await conn.executeMany(`INSERT INTO [${table}] ([id], [full name], [age]) VALUES (?, ?, ?)`, [
          [2, 'Alan Turing', 41],
          [3, 'Grace Hopper', 85],
        ]);
        const rows = await conn.execute<{ id: number; 'full name': string }>(
          `SELECT [id], [full name] FROM [${table}] WHERE [age] > ? ORDER BY [id]`,
          [40],
        );
        expect(rows).toEqual([
          { id: 2, 'full name': 'Alan Turing' },
          { id: 3, 'full name': 'Grace Hopper' },
        ]);
      });
    });

    test(target, 'returns tuples with rowMode array', async () => {
      const rows = await db.execute(`SELECT [id], [age] FROM [${table}] WHERE [id] = ?`, [1], { rowMode: 'array' });
      expect(rows).toEqual([[1, 36]]);
    });

    test(target, 'executeFirst gives the first row or undefined, on the database and on a connection', async () => {
      const sql = `SELECT [id], [full name] FROM [${table}] WHERE [age] > ? ORDER BY [id]`;
      expect(await db.executeFirst(sql, [40])).toEqual({ id: 2, 'full name': 'Alan Turing' });
      expect(await db.executeFirst(sql, [1000])).toBeUndefined();
      expect(await db.executeFirst(`SELECT [id], [age] FROM [${table}] WHERE [id] = ?`, [1], { rowMode: 'array' })).toEqual([1, 36]);
      await db.withConnection(async (conn) => {
        expect(await conn.executeFirst<{ id: number }>(`SELECT [id] FROM [${table}] ORDER BY [id] DESC`)).toEqual({ id: 3 });
        // The connection is still usable after a statement whose later rows were never read.
        expect(await conn.execute(`SELECT COUNT(*) AS [n] FROM [${table}]`)).toHaveLength(1);
      });
      const err = await db.executeFirst(`SELECT [id] FROM [${table}] WHERE [id] = ?`, []).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TranslationError);
      expect(PoolManager.getPoolStatus(db.config.hash())?.sizes.inUse).toBe(0);
    });

    test(target, 'leaves ?? as a literal question mark and string contents untouched', async () => {
      const rows = await db.execute<{ q: string; s: string }>(`SELECT '??' AS [q], 'a [b] ?' AS [s]`);
      expect(rows[0]).toEqual({ q: '??', s: 'a [b] ?' });
    });

    test(target, 'rejects a parameter count mismatch with TranslationError before the server, losing no pool slot', async () => {
      const err = await db.execute(`SELECT [id] FROM [${table}] WHERE [id] = ? AND [age] = ?`, [1]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(TranslationError);
      expect(DalError.isInstance(err)).toBe(true);
      expect((err as DalError).code).toBe('DAL_TRANSLATE');
      expect(PoolManager.getPoolStatus(db.config.hash())?.sizes.inUse).toBe(0);
    });

    test(target, 'maps a syntax error to QueryError with the SQL and no parameter values', async () => {
      const secret = 'secret-value-9137';
      const err = await db.execute(`SELEC [id] FROM [${table}] WHERE [full name] = ?`, [secret]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(QueryError);
      const q = err as QueryError;
      expect(q.code).toBe('DAL_QUERY');
      expect(q.retryable).toBe(false);
      expect(q.sql).toContain('SELEC');
      expect(q.message).toContain(db.config.alias);
      expect(q.message).not.toContain(secret);
      expect(JSON.stringify(q)).not.toContain(secret);
      expect(q.cause).toBeDefined();
    });

    test(target, 'rejects a bad timeoutMs with ConfigError; Infinity means no timeout', async () => {
      await expect(db.execute('SELECT 1', [], { timeoutMs: -5 })).rejects.toBeInstanceOf(ConfigError);
      await expect(db.execute('SELECT 1', [], { timeoutMs: Number.NaN })).rejects.toBeInstanceOf(ConfigError);
      expect(await db.execute('SELECT 1 AS [one]', [], { timeoutMs: Number.POSITIVE_INFINITY })).toEqual([{ one: 1 }]);
      expect(PoolManager.getPoolStatus(db.config.hash())?.sizes.inUse).toBe(0);
    });

    test(target, 'logs slow statements with alias, duration, tags and SQL, parameter values redacted unless configured', async () => {
      const logged: Array<{ data: Record<string, unknown>; message: string }> = [];
      const logger = { warn: (data: Record<string, unknown>, message: string) => logged.push({ data, message }) };
      const secret = 'secret-param-5521';
      // Every statement counts as slow with a threshold of a microsecond.
      const quiet = target.createDatabase({ alias: `slow_${target.name}`, slowQueryThresholdMs: 0.001 }, { logger });
      const verbose = target.createDatabase({ alias: `slow_verbose_${target.name}`, slowQueryThresholdMs: 0.001, logParameterValues: true }, { logger });
      try {
        await quiet.execute('SELECT ? AS [v]', [secret], { tags: { operation: 'get_secret' } });
        const entry = logged.find((l) => l.message === '[dal] slow query' && l.data['alias'] === `slow_${target.name}`);
        expect(entry?.data).toMatchObject({ alias: `slow_${target.name}`, tags: { operation: 'get_secret' }, params: '[1 redacted]' });
        expect(entry!.data['sql']).toEqual(expect.stringContaining('AS'));
        expect(typeof entry!.data['durationMs']).toBe('number');
        expect(JSON.stringify(logged)).not.toContain(secret);
        await verbose.execute('SELECT ? AS [v]', [secret]);
        expect(logged.find((l) => l.data['alias'] === `slow_verbose_${target.name}`)?.data['params']).toEqual([secret]);
        expect(PoolManager.getPoolStatus(quiet.config.hash())!.metrics.slowQueries).toBeGreaterThanOrEqual(1);
        expect(PoolManager.getPoolStatus(quiet.config.hash())!.metrics.operations['get_secret']).toMatchObject({ count: 1, errors: 0 });
      } finally {
        await quiet.close();
        await verbose.close();
      }
    });

    test(target, 'executeMany stores every row and value of a large plain INSERT, with row-by-row counts', async () => {
      const bulk = tableName(target, 'bulk');
      const key = target.types.autoIncrementKey;
      await db.execute(`CREATE TABLE [${bulk}] ([id] ${key ?? `${int} PRIMARY KEY`}, [label] ${varchar}(60), [n] ${int})`);
      try {
        // 1,500 rows: several batch sizes on a backend that batches. Labels hold what a naive rewrite would break on.
        const labels = (i: number): string | null => (i % 7 === 0 ? null : `row ${i} ? (it's) [x], ?`);
        const rows = Array.from({ length: 1_500 }, (_, i) => (key ? [labels(i), i] : [i + 1, labels(i), i]));
        const sql = key ? `INSERT INTO [${bulk}] ([label], [n]) VALUES (?, ?)` : `INSERT INTO [${bulk}] ([id], [label], [n]) VALUES (?, ?, ?)`;
        const statements = () => PoolManager.getPoolStatus(db.config.hash())!.metrics.queries;
        const before = statements();
        let batches = false;
        const result = await db.withConnection((conn) => {
          batches = conn.capabilities.multiRowInsert === true;
          return conn.executeMany(sql, rows);
        });
        // With multi-row INSERT: a dozen statements (batches, BEGIN, COMMIT) instead of one per row.
        if (batches) expect(statements() - before).toBeLessThan(20);
        else expect(statements() - before).toBeGreaterThanOrEqual(1_500);
        expect(result.affectedRows).toBe(1_500);
        expect(result.rows).toEqual([]);
        // Where the backend reports one, insertId is the last row's, as when running row by row.
        if (key && result.insertId !== undefined) {
          const [last] = await db.execute<{ id: number | string }>(`SELECT MAX([id]) AS [id] FROM [${bulk}]`);
          expect(Number(result.insertId)).toBe(Number(last!.id));
        }
        const [stats] = await db.execute<{ c: number | string; s: number | string; nulls: number | string }>(
          `SELECT COUNT(*) AS [c], SUM([n]) AS [s], SUM(CASE WHEN [label] IS NULL THEN 1 ELSE 0 END) AS [nulls] FROM [${bulk}]`,
        );
        expect({ c: Number(stats!.c), s: Number(stats!.s), nulls: Number(stats!.nulls) }).toEqual({ c: 1_500, s: (1_499 * 1_500) / 2, nulls: 215 });
        expect(await db.execute(`SELECT [label] FROM [${bulk}] WHERE [n] = ?`, [1_234])).toEqual([{ label: "row 1234 ? (it's) [x], ?" }]);
        // One bad row in the middle of a batch: nothing of the call is written.
        await db.execute(`DELETE FROM [${bulk}]`);
        const dup = Array.from({ length: 600 }, (_, i) => [i === 400 ? 1 : i + 1, 'x', i]);
        const err = await db
          .withConnection((conn) => conn.executeMany(`INSERT INTO [${bulk}] ([id], [label], [n]) VALUES (?, ?, ?)`, dup))
          .catch((e: unknown) => e);
        expect(err).toBeInstanceOf(QueryError);
        expect(await db.execute(`SELECT [id] FROM [${bulk}]`)).toEqual([]);
      } finally {
        await db.execute(`DROP TABLE IF EXISTS [${bulk}]`);
      }
    });

    test(target, 'reports the server version and the native driver', async () => {
      const details = await db.withConnection((conn) => conn.getVersionDetails());
      expect(details.dbServerVersion).toMatch(/\d+\.\d+/);
      expect(details.dbDriver.length).toBeGreaterThan(0);
    });

    test(target, 'releases with await using, twice is harmless, and a released connection refuses work', async () => {
      let escaped: import('@dal/core').Connection | undefined;
      {
        await using conn = await db.connection();
        escaped = conn;
        expect(await conn.execute('SELECT 1 AS [one]')).toEqual([{ one: 1 }]);
      }
      expect(escaped.isReleased).toBe(true);
      await escaped.release();
      await expect(escaped.execute('SELECT 1')).rejects.toBeInstanceOf(ConnectionReleasedError);
    });
  });
}
