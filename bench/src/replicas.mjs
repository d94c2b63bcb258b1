#!/usr/bin/env node
// Primary alone against primary + one replica for a read-heavy mix (90 % reads, 10 % writes by
// default), on a throwaway replicated cluster started here (@dal/test-utils), plus how often a
// read right after a write misses it on the replica without and with a commit token.
// See docs/scaling.md, "Read replicas".
//
//   node src/replicas.mjs [--backend postgres|mysql]... [--ms 5000] [--concurrency 16] [--reads 0.9]
//
// Both servers run on this machine: a replica here adds no CPU, only another server process
// competing for the same cores, so the numbers show the routing cost and the read-your-writes
// behaviour, not what a replica on its own hardware adds.
import { parseArgs } from 'node:util';
import { DatabaseConfig, PoolManager } from '@dal/core';
import { MysqlDatabase } from '@dal/driver-mysql';
import { PostgresDatabase } from '@dal/driver-postgres';
import { startMariadbReplicaCluster, startPostgresReplicaCluster } from '@dal/test-utils';
import { fmt, markdownTable, percentile } from './lib/stats.mjs';

const { values: args } = parseArgs({
  options: {
    backend: { type: 'string', multiple: true },
    ms: { type: 'string', default: '5000' },
    concurrency: { type: 'string', default: '16' },
    reads: { type: 'string', default: '0.9' },
    probes: { type: 'string', default: '200' },
  },
});
const ROWS = 10_000;
const TABLE = `bench_replicas_${process.pid}`;
const BACKENDS = {
  postgres: { start: startPostgresReplicaCluster, Database: PostgresDatabase, real: 'DOUBLE PRECISION' },
  mysql: { start: startMariadbReplicaCluster, Database: MysqlDatabase, real: 'DOUBLE' },
};
// A range aggregate: enough server work per read that where it runs matters.
const READ = `SELECT count(*) AS [n], avg([score]) AS [s] FROM [${TABLE}] WHERE [id] BETWEEN ? AND ?`;
const WRITE = `UPDATE [${TABLE}] SET [score] = [score] + 1 WHERE [id] = ?`;

/**
 * Run the mix for `ms` with `concurrency` callers; reads through `read`.
 * @param {import('@dal/core').Database} db
 * @param {(id: number) => Promise<unknown>} read
 * @param {number} ms
 * @param {number} concurrency
 * @param {number} readShare
 */
async function mix(db, read, ms, concurrency, readShare) {
  /** @type {{ read: number[]; write: number[] }} */
  const latencies = { read: [], write: [] };
  const deadline = performance.now() + ms;
  const caller = async () => {
    while (performance.now() < deadline) {
      const id = 1 + Math.floor(Math.random() * (ROWS - 500));
      const isRead = Math.random() < readShare;
      const started = performance.now();
      if (isRead) await read(id);
      else await db.execute(WRITE, [id]);
      latencies[isRead ? 'read' : 'write'].push(performance.now() - started);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, caller));
  return latencies;
}

/**
 * Insert a row and read it back at once from a replica, `probes` times: how many reads missed it.
 * @param {import('@dal/core').Database} db
 * @param {number} probes
 * @param {boolean} withToken
 */
async function readYourWrites(db, probes, withToken) {
  let missed = 0;
  /** @type {number[]} */
  const waits = [];
  for (let i = 0; i < probes; i++) {
    const id = ROWS + 1 + i + (withToken ? probes : 0);
    await db.execute(`INSERT INTO [${TABLE}] ([id], [score]) VALUES (?, 0)`, [id]);
    const started = performance.now();
    const replica = withToken ? db.replica({ consistentWith: await db.commitToken(), maxWaitMs: 200 }) : db.replica();
    const row = await replica.executeFirst(`SELECT count(*) AS [n] FROM [${TABLE}] WHERE [id] = ?`, [id]);
    waits.push(performance.now() - started);
    if (Number(row?.n) === 0) missed++;
  }
  return { missed, p50: percentile(waits, 50), p99: percentile(waits, 99) };
}

for (const backend of args.backend ?? Object.keys(BACKENDS)) {
  const spec = BACKENDS[/** @type {keyof typeof BACKENDS} */ (backend)];
  if (spec === undefined) throw new Error(`unknown backend '${backend}': use postgres or mysql`);
  const cluster = await spec.start();
  try {
    const db = new spec.Database(
      new DatabaseConfig({ database: cluster.database, user: cluster.user, host: cluster.primary.host, port: cluster.primary.port, replicas: [cluster.replica], alias: `bench_replicas_${backend}` }),
    );
    await db.execute(`CREATE TABLE [${TABLE}] ([id] INTEGER PRIMARY KEY, [score] ${spec.real} NOT NULL)`);
    const ids = Array.from({ length: ROWS }, (_, i) => i + 1);
    await db.withConnection((conn) => conn.executeMany(`INSERT INTO [${TABLE}] ([id], [score]) VALUES (?, ?)`, ids.map((id) => [id, id / 7])));
    await cluster.waitForCatchUp();
    const ms = Number(args.ms);
    const concurrency = Number(args.concurrency);
    const readShare = Number(args.reads);
    /** @type {Record<string, (id: number) => Promise<unknown>>} */
    const runs = {
      'primary alone': (id) => db.executeFirst(READ, [id, id + 500]),
      'primary + replica (db.replica())': (id) => db.replica().executeFirst(READ, [id, id + 500]),
    };
    const rows = [];
    for (const [name, read] of Object.entries(runs)) {
      const { read: reads, write: writes } = await mix(db, read, ms, concurrency, readShare);
      rows.push([name, fmt(((reads.length + writes.length) / ms) * 1000), fmt(percentile(reads, 50), 2), fmt(percentile(reads, 99), 2), fmt(percentile(writes, 50), 2), fmt(percentile(writes, 99), 2)]);
    }
    console.log(`\n${backend}: ${fmt(readShare * 100)} % reads, ${concurrency} callers, ${ms} ms per run, both servers on this machine`);
    console.log(markdownTable(['routing', 'ops/s', 'read p50 ms', 'read p99 ms', 'write p50 ms', 'write p99 ms'], rows));
    const probes = Number(args.probes);
    const plain = await readYourWrites(db, probes, false);
    const tokened = await readYourWrites(db, probes, true);
    console.log(`\n${backend}: a read from the replica right after a write (${probes} tries each)`);
    console.log(
      markdownTable(
        ['read', 'missed the write', 'p50 ms', 'p99 ms'],
        [
          ['db.replica()', `${plain.missed} / ${probes}`, fmt(plain.p50, 2), fmt(plain.p99, 2)],
          ['db.replica({ consistentWith: await db.commitToken() })', `${tokened.missed} / ${probes}`, fmt(tokened.p50, 2), fmt(tokened.p99, 2)],
        ],
      ),
    );
    console.log(`nodes: ${JSON.stringify(PoolManager.getPoolStatus(db.config.hash())?.nodes)}`);
    await db.execute(`DROP TABLE [${TABLE}]`);
    await db.close();
  } finally {
    await PoolManager.closeAll();
    await cluster.stop();
  }
}
