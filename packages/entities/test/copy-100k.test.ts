/**
 * Issue 19's "done when": a SQLite database of 100k entities with history copied to PostgreSQL
 * and to MariaDB with matching checksums, in CI time.
 */
import { performance } from 'node:perf_hooks';
import { PoolManager, type Connection, type Database } from '@dal/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyEntities } from '../src/index.js';
import { entityName, mysqlTarget, postgresTarget, sqliteTarget } from './helpers.js';

const ENTITIES = 100_000;
/** Every fifth entity is updated once: 120k history rows. */
const UPDATED_EVERY = 5;
const CHUNK = 5_000;

describe('copy 100k entities with history from SQLite', () => {
  const source = sqliteTarget();
  const name = entityName('bulk');
  let sourceDb: Database;

  beforeAll(async () => {
    sourceDb = source.createDatabase('copy-100k-source');
    const started = performance.now();
    const conn = await sourceDb.connection();
    try {
      for (let start = 0; start < ENTITIES; start += CHUNK) {
        const rows = Array.from({ length: CHUNK }, (_, i) => {
          const n = start + i;
          return { id: `u${n}`, name: `user ${n}`, age: n % 90, score: n / 7, active: n % 3 === 0, joined: new Date(1_700_000_000_000 + n * 1000), prefs: { n } };
        });
        await conn.saveEntities(name, rows, { userId: 'seed' });
      }
      for (let start = 0; start < ENTITIES; start += CHUNK * UPDATED_EVERY) {
        const rows = Array.from({ length: CHUNK }, (_, i) => ({ id: `u${start + i * UPDATED_EVERY}`, name: `user ${start + i * UPDATED_EVERY} (edited)` }));
        await conn.saveEntities(name, rows, { userId: 'editor' });
      }
    } finally {
      await conn.release();
    }
    console.info(`SQLite source of ${ENTITIES} entities with history built in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  }, 180_000);

  afterAll(async () => {
    await sourceDb?.close();
    await PoolManager.closeAll();
    source.dispose();
  }, 60_000);

  for (const target of [postgresTarget(), mysqlTarget()]) {
    it(`to ${target.name}: every row and history row, checksums matching`, async () => {
      const db = target.createDatabase(`copy-100k-${target.name}`);
      try {
        const started = performance.now();
        const result = await copyEntities(sourceDb, db, { entities: [name] });
        const seconds = (performance.now() - started) / 1000;
        console.info(`copy of ${ENTITIES} entities with history, SQLite -> ${target.name}: ${seconds.toFixed(1)} s`);
        expect(result.entities[name]).toEqual({ rows: ENTITIES, history: ENTITIES + ENTITIES / UPDATED_EVERY, skipped: 0, unchanged: 0 });
        expect(result.verification.map((t) => [t.table, t.sourceRows, t.targetRows, t.ok])).toEqual([
          [name, ENTITIES, ENTITIES, true],
          [`${name}_history`, ENTITIES + ENTITIES / UPDATED_EVERY, ENTITIES + ENTITIES / UPDATED_EVERY, true],
        ]);
        expect(result.ok).toBe(true);
      } finally {
        await db.withConnection(async (conn: Connection) => {
          for (const table of [name, `${name}_history`, `${name}_meta`]) await conn.execute(`DROP TABLE IF EXISTS [${table}]`);
        });
        await db.close();
      }
    }, 180_000);
  }
});
