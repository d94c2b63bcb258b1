import { PostgresDatabase } from '../src/index.js';
import { StaleStatementError, type Database } from '@dal/core';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawClient, testConfig } from './helpers.js';

// Issue #13 item 6: a statement prepared on a connection, then invalidated by DDL in another
// session ("cached plan must not change result type", 0A000), is prepared again and re-run.
const TABLE = `stale_statement_${process.pid}`;
const SELECT = `SELECT [a] FROM [${TABLE}] WHERE [a] = ?`;

let admin: pg.Client;
let db: Database;

async function alterType(type: 'bigint' | 'integer'): Promise<void> {
  await admin.query(`ALTER TABLE ${TABLE} ALTER COLUMN a TYPE ${type}`);
}

beforeAll(async () => {
  admin = await rawClient();
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.query(`CREATE TABLE ${TABLE} (a integer)`);
  await admin.query(`INSERT INTO ${TABLE} VALUES (1)`);
  // One connection, so that the statement prepared on it is the one DDL invalidates.
  db = new PostgresDatabase(testConfig({ alias: `stale_${process.pid}`, poolMin: 1, poolMax: 1 }));
});

afterAll(async () => {
  await db.close();
  await admin.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await admin.end();
});

/** Run the select until the driver has prepared it (from its second use). */
async function prepared(): Promise<void> {
  for (let i = 0; i < 3; i++) expect(await db.executeFirst<{ a: number }>(SELECT, [1])).toEqual({ a: 1 });
}

describe('a statement invalidated by DDL elsewhere', () => {
  it('outside a transaction, is prepared again and re-run once, on every entry point', async () => {
    await prepared();
    await alterType('bigint');
    expect(Number((await db.executeFirst<{ a: unknown }>(SELECT, [1]))!.a)).toBe(1);
    await alterType('integer');
    expect(await db.withConnection((conn) => conn.execute(SELECT, [1]))).toHaveLength(1);
  });

  it('inside a transaction, is a retryable StaleStatementError that transaction({ retry }) re-runs', async () => {
    await prepared();
    await alterType('bigint');
    const error = await db
      .withConnection((conn) => conn.transaction((tx) => tx.executeFirst(SELECT, [1])))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(StaleStatementError);
    expect((error as StaleStatementError).retryable).toBe(true);

    await prepared();
    await alterType('integer');
    let attempts = 0;
    const row = await db.withConnection((conn) =>
      conn.transaction(
        (tx) => {
          attempts++;
          return tx.executeFirst<{ a: number }>(SELECT, [1]);
        },
        { retry: { maxRetries: 2 } },
      ),
    );
    expect(row).toEqual({ a: 1 });
    expect(attempts).toBe(2);
  });
});
