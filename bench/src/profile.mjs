#!/usr/bin/env node
// Hot-path profiling helper for issue #6 item 4: runs @dal's point select alone for a while, so
// that `node --cpu-prof` sees only the layer; or summarises a .cpuprofile by self time.
//
//   node --cpu-prof --cpu-prof-dir=/tmp/prof src/profile.mjs --backend sqlite --mode inline --seconds 5
//   node src/profile.mjs --summary /tmp/prof/CPU.*.cpuprofile
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { DatabaseConfig } from '@dal/core';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', default: 'sqlite' },
    mode: { type: 'string', default: 'inline' },
    seconds: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '1' },
    summary: { type: 'string' },
    top: { type: 'string', default: '30' },
  },
});

if (args.summary !== undefined) {
  summarise(args.summary, Number(args.top));
} else {
  await profile();
}

/** Run point selects through @dal for `--seconds` and print the rate. */
async function profile() {
  const db = await openDatabase();
  try {
    await db.execute('CREATE TABLE IF NOT EXISTS bench_profile (id integer PRIMARY KEY, name text NOT NULL)');
    await db.execute('DELETE FROM bench_profile');
    await db.withConnection((conn) => conn.executeMany('INSERT INTO [bench_profile] ([id], [name]) VALUES (?, ?)', Array.from({ length: 1000 }, (_, i) => [i + 1, `row ${i + 1}`])));
    let count = 0;
    const end = performance.now() + Number(args.seconds) * 1000;
    const loop = async () => {
      while (performance.now() < end) {
        await db.executeFirst('SELECT [id], [name] FROM [bench_profile] WHERE [id] = ?', [1 + (count % 1000)]);
        count++;
      }
    };
    const start = performance.now();
    await Promise.all(Array.from({ length: Number(args.concurrency) }, loop));
    const seconds = (performance.now() - start) / 1000;
    console.log(`${args.backend}${args.backend === 'sqlite' ? ` (${args.mode})` : ''}: ${Math.round(count / seconds)} ops/s, ${((seconds * 1e6) / count).toFixed(1)} µs per call`);
    await db.execute('DROP TABLE bench_profile');
  } finally {
    await db.close();
  }
}

/** @returns {Promise<import('@dal/core').Database>} */
async function openDatabase() {
  if (args.backend === 'postgres') {
    const { PostgresDatabase } = await import('@dal/driver-postgres');
    return new PostgresDatabase(DatabaseConfig.fromUrl(process.env.DAL_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test', { poolMax: 20 }));
  }
  if (args.backend === 'mysql') {
    const { MysqlDatabase } = await import('@dal/driver-mysql');
    return new MysqlDatabase(DatabaseConfig.fromUrl(process.env.DAL_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306/test', { poolMax: 20 }));
  }
  const { SqliteDatabase } = await import('@dal/driver-sqlite');
  return new SqliteDatabase(new DatabaseConfig({ database: ':memory:', poolMin: 1, poolMax: 1, driverOptions: { mode: args.mode } }));
}

/**
 * Print the functions with the most self time in a V8 .cpuprofile.
 * @param {string} file
 * @param {number} top
 */
function summarise(file, top) {
  /** @type {{ nodes: { id: number, callFrame: { functionName: string, url: string, lineNumber: number } }[], samples: number[], timeDeltas: number[] }} */
  const prof = JSON.parse(readFileSync(file, 'utf8'));
  /** @type {Map<number, number>} */
  const selfUs = new Map();
  prof.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  /** @type {Map<string, number>} */
  const byFunction = new Map();
  let total = 0;
  for (const node of prof.nodes) {
    const us = selfUs.get(node.id) ?? 0;
    total += us;
    const { functionName, url, lineNumber } = node.callFrame;
    const where = url.replace(/^.*\/(packages|node_modules)\//, '$1/');
    const key = `${functionName || '(anonymous)'} ${where}:${lineNumber + 1}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const rows = [...byFunction.entries()].sort((a, b) => b[1] - a[1]).slice(0, top);
  for (const [key, us] of rows) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
}
