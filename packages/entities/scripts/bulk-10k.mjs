// Measures saveEntities() of 10,000 entities against raw batched multi-row INSERTs of the same
// rows (through the same @dal connection, in one transaction), on each backend.
// Usage: pnpm --filter @dal/entities build && node scripts/bulk-10k.mjs [postgres|mysql|sqlite ...]
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseConfig, PoolManager } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { SqliteDatabase } from '@dal/driver-sqlite';
import '../dist/index.js';

const ROWS = 10_000;
const BATCH = 1_000;
const RUNS = 3;

const sqliteDir = mkdtempSync(join(tmpdir(), 'dal-entities-bench-'));
const targets = {
  postgres: () => new PostgresDatabase(DatabaseConfig.fromUrl(process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { alias: 'bench_pg' })),
  mysql: () => new MysqlDatabase(DatabaseConfig.fromUrl(process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', { alias: 'bench_mysql' })),
  sqlite: () => new SqliteDatabase(new DatabaseConfig({ database: join(sqliteDir, 'bench.db'), alias: 'bench_sqlite' })),
};
const columnTypes = {
  postgres: { id: 'VARCHAR(255)', text: 'TEXT', num: 'DOUBLE PRECISION', bool: 'BOOLEAN', ts: 'TIMESTAMPTZ' },
  mysql: { id: 'VARCHAR(255)', text: 'LONGTEXT', num: 'DOUBLE', bool: 'TINYINT(1)', ts: 'DATETIME(6)' },
  sqlite: { id: 'TEXT', text: '', num: '', bool: '', ts: 'TEXT' },
};

function rows() {
  return Array.from({ length: ROWS }, (_, i) => ({ name: `user ${i}`, email: `u${i}@example.com`, age: 20 + (i % 50), active: i % 3 !== 0 }));
}

async function rawInsert(conn, table, data) {
  const at = new Date();
  await conn.transaction(async (tx) => {
    for (let i = 0; i < data.length; i += BATCH) {
      const batch = data.slice(i, i + BATCH);
      const params = batch.flatMap((r) => [randomUUID(), r.name, r.email, r.age, r.active, at, at]);
      const values = batch.map(() => '(?, ?, ?, ?, ?, ?, ?)').join(', ');
      await tx.execute(`INSERT INTO [${table}] ([id], [name], [email], [age], [active], [created_at], [updated_at]) VALUES ${values}`, params);
    }
  });
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

async function bench(name) {
  const db = targets[name]();
  const conn = await db.connection();
  const suffix = randomBytes(3).toString('hex');
  const entity = `dal_ent_bench_${suffix}`;
  const raw = `dal_ent_bench_raw_${suffix}`;
  const t = columnTypes[name];
  try {
    await conn.execute(
      `CREATE TABLE [${raw}] ([id] ${t.id} PRIMARY KEY, [name] ${t.text}, [email] ${t.text}, [age] ${t.num}, [active] ${t.bool}, [created_at] ${t.ts}, [updated_at] ${t.ts})`,
    );
    // Schema creation is not part of the measurement.
    await conn.saveEntity(entity, rows()[0]);
    const rawTimes = [];
    const entityTimes = [];
    for (let run = 0; run < RUNS; run++) {
      const data = rows();
      let started = performance.now();
      await rawInsert(conn, raw, data);
      rawTimes.push(performance.now() - started);
      started = performance.now();
      await conn.saveEntities(entity, data);
      entityTimes.push(performance.now() - started);
    }
    const rawMs = median(rawTimes);
    const entityMs = median(entityTimes);
    console.log(`${name.padEnd(8)} raw ${rawMs.toFixed(0).padStart(6)} ms   saveEntities ${entityMs.toFixed(0).padStart(6)} ms   ratio ${(entityMs / rawMs).toFixed(2)}`);
  } finally {
    for (const table of [raw, entity, `${entity}_history`, `${entity}_meta`]) await conn.execute(`DROP TABLE IF EXISTS [${table}]`);
    await conn.release();
    await db.close();
  }
}

const chosen = process.argv.slice(2).length > 0 ? process.argv.slice(2) : Object.keys(targets);
try {
  for (const name of chosen) await bench(name);
} finally {
  await PoolManager.closeAll();
  rmSync(sqliteDir, { recursive: true, force: true });
}
