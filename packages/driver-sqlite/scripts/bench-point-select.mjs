// Point select by primary key on a 10k-row table: raw better-sqlite3 vs each driver mode.
// Run after `pnpm build`: node scripts/bench-point-select.mjs
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { DatabaseConfig } from '@dal/core';
import { createSqliteDriver } from '../dist/index.js';

const dir = mkdtempSync(join(tmpdir(), 'dal-sqlite-bench-'));
const file = join(dir, 'bench.db');
const SQL = 'SELECT id, name, score FROM bench WHERE id = ?';
const ROWS = 10_000;

const setup = new Database(file);
setup.pragma('journal_mode = WAL');
setup.exec('CREATE TABLE bench (id INTEGER PRIMARY KEY, name TEXT NOT NULL, score REAL NOT NULL)');
const insert = setup.prepare('INSERT INTO bench VALUES (?, ?, ?)');
setup.transaction(() => {
  for (let i = 1; i <= ROWS; i++) insert.run(i, `name-${i}`, i * 1.5);
})();

async function measure(label, iterations, runOne) {
  for (let i = 0; i < Math.min(iterations, 5000); i++) await runOne(i);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await runOne(i);
  const us = Number(process.hrtime.bigint() - start) / iterations / 1000;
  return { label, us };
}

// Several interleaved rounds, best kept: the machine may be busy with other work.
const raw = setup.prepare(SQL);
const conns = {};
for (const mode of ['inline', 'worker', 'process']) {
  conns[mode] = await createSqliteDriver({ mode }).connect(new DatabaseConfig({ database: file }), { signal: AbortSignal.timeout(10_000) });
}
const options = { rowMode: 'object', timeoutMs: 1000 };
const best = new Map();
for (let round = 0; round < 5; round++) {
  const results = [await measure('raw better-sqlite3 `stmt.get` (sync)', 100_000, (i) => raw.get((i % ROWS) + 1))];
  for (const [mode, conn] of Object.entries(conns)) {
    results.push(await measure(`driver mode '${mode}'`, mode === 'inline' ? 100_000 : 20_000, (i) => conn.execute(SQL, [(i % ROWS) + 1], options)));
  }
  for (const r of results) if (!best.has(r.label) || best.get(r.label).us > r.us) best.set(r.label, r);
}
for (const conn of Object.values(conns)) await conn.close();
const results = [...best.values()];
setup.close();
rmSync(dir, { recursive: true, force: true });

const base = results[0].us;
console.log(`| path | µs per point select | ratio to raw |\n|---|---|---|`);
for (const r of results) console.log(`| ${r.label} | ${r.us.toFixed(2)} | ${(r.us / base).toFixed(1)}x |`);
